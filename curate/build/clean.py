"""Clean: the build's side of curate/cleaning, between extract and select.

What phase 1 needs for it (a document table, the quality filters, the evaluation documents), and, after
phase 1, the cleaning plan: which training documents leave the build and why (near-duplicate pairs are
found by the executor's workers, one band partition each). Everything here is off unless the catalog
turns overlap, near-duplicates or quality filters on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from curate import storage
from curate.build.extract import documents_path, example_file
from curate.build.plan import ExtractUnit
from curate.build.summaries import ExtractSummary
from curate.catalog import Catalog, DatasetEntry
from curate.cleaning.overlap import EvalDocuments
from curate.cleaning.plan import OVERLAP, CleaningPlan, NearPairs, plan_cleaning
from curate.tasks.base import stable_hash


def quality_key(catalog: Catalog) -> tuple[str, ...]:
    """What rendering depends on of the quality filters: nothing while they are all off (so render
    cache keys of earlier builds stay valid)."""
    quality = catalog.output.quality
    return (quality.model_dump_json(),) if quality.checks_records else ()


def cleaning_args(catalog: Catalog, entry: DatasetEntry, split: str,
                  eval_documents: EvalDocuments | None = None) -> dict[str, Any]:
    """extract_unit's cleaning arguments: a document table where overlap or near-duplicates are on;
    for a training split, the document quality filters and the evaluation documents to leave out."""
    from curate.cleaning.documents import DocumentTable
    from curate.cleaning.minhash import SCHEME
    from curate.cleaning.plan import hasher_of

    output = catalog.output
    near = output.near_duplicates
    # a dataset's own ``cleaning`` switches turn steps off for it alone
    hashed = near.enabled and entry.cleaning_step("near_duplicates")
    documents = (DocumentTable(hasher_of(near) if near.enabled else None, frozenset(near.skip_tasks), hashed)
                 if output.overlap or near.enabled else None)
    train = split in entry.train_splits
    filters = catalog.quality_filters(entry.name)
    quality = filters if filters.checks_documents and train else None
    if documents is None and quality is None:
        return {}
    # (the signature scheme is part of the key: tables hashed by an older scheme are made again)
    key = stable_hash(output.overlap, [near.model_dump_json(), SCHEME] if near.enabled else "",
                      quality.model_dump_json() if quality is not None else "")
    leaks = output.overlap and train and entry.cleaning_step("overlap") and eval_documents
    return {"documents": documents, "quality": quality, "cleaning_key": key,
            "eval_documents": eval_documents if leaks else None}


def eval_documents(catalog: Catalog, units: list[ExtractUnit], work: Path) -> EvalDocuments | None:
    """Overlap keys of every evaluation document, from phase 1's document tables, in a fixed order (None
    when overlap is off)."""
    if not catalog.output.overlap:
        return None
    from curate.cleaning.documents import load_documents

    parts = []
    for unit in sorted(units, key=lambda u: u.catalog_order):
        path = documents_path(work, unit)
        if unit.split in catalog.dataset(unit.dataset).eval_splits and storage.exists(path):
            parts.append((f"{unit.dataset}/{unit.split}", load_documents(path)[1]))
    return EvalDocuments.build(parts)


def cleaned_examples(summaries: list[ExtractSummary], cleaned: Counter[tuple[str, ...]]) -> Counter[tuple[str, ...]]:
    """Training examples the cleaning removed per (dataset, split, reason): in phase 1 (another dataset's
    evaluation document) and by the plan (near-duplicates, near an evaluation document)."""
    removed: Counter[tuple[str, ...]] = Counter()
    for (dataset, split, _, reason), n in cleaned.items():
        removed[(dataset, split, reason)] += n
    for summary in summaries:
        for n in summary.per_task(OVERLAP).values():
            removed[(summary.dataset, summary.split, OVERLAP)] += n
    return removed


def cleaning_plan(pool: Any, catalog: Catalog, units: list[ExtractUnit], work: Path, seed: int) -> CleaningPlan:
    """The cleaning plan from phase 1's document tables; near-duplicate pairs are found by the executor's
    workers, one band partition each (``pool.partitioned``)."""
    output = catalog.output
    if not (output.overlap or output.near_duplicates.enabled):
        return CleaningPlan()
    # training and evaluation splits only: a split that is neither is in no output (a cluster must not
    # keep a document of it over a training one)
    files = [(str(example_file(work, u)), u.dataset, u.split, u.split in catalog.dataset(u.dataset).eval_splits,
              documents_path(work, u)) for u in sorted(units, key=lambda u: u.catalog_order)
             if u.split in catalog.dataset(u.dataset).eval_splits or u.split in catalog.dataset(u.dataset).train_splits]

    def pairs_of(tables: Sequence[Path]) -> NearPairs:  # each worker reads the tables it needs itself
        return NearPairs.merged(pool.partitioned("near_duplicate_pairs", list(tables)))

    no_overlap = frozenset(e.name for e in catalog.datasets if not e.cleaning_step("overlap"))
    return plan_cleaning(files, seed, output.near_duplicates, output.overlap, pairs_of, no_overlap)
