"""Read one catalog dataset split with its reader: documents, rejects, and the counts validate reports.

Kept apart from the readers so the build, ``curate validate`` and the tests all count the same way
(documents, entities, relations, events, coreferences, labels, plus each reader's own statistics).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from curate.catalog import Catalog, DatasetEntry
from curate.readers import ReadContext, Reject, get_reader


@dataclass
class SplitResult:
    """Everything read from one split: documents, rejects naming file and line, and the counts."""

    dataset: str
    split: str
    documents: list[BaseModel] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


def iter_split(catalog: Catalog, entry: DatasetEntry, split: str,
               rejects: list[Reject] | None = None, stats: Counter[str] | None = None) -> Iterator[BaseModel]:
    """Documents of one split, file by file in catalog order; rejects and reader statistics are collected."""
    reader = get_reader(entry.format or "", entry.options)
    labels = frozenset(entry.labels)
    for path in catalog.resolve_files(entry, split):
        ctx = ReadContext(dataset=entry.name, split=split, file=str(path), language=entry.language, labels=labels)
        yield from reader.read(str(path), ctx)
        if rejects is not None:
            rejects.extend(ctx.rejects)
        if stats is not None:
            stats.update(ctx.stats)


def document_counts(doc: Any) -> Counter[str]:
    """What one document contributes to a split's counts."""
    counts: Counter[str] = Counter(documents=1)
    kind = getattr(doc, "kind", "")
    if kind == "ie":
        counts.update(entities=len(doc.entities), relations=len(doc.relations), events=len(doc.events),
                      coreferences=len(doc.coreferences))
        counts.update(doc.stats)
    elif kind == "tc":
        counts.update(labels=len(doc.labels))
    elif kind == "dialogue":
        counts.update(turns=len(doc.turns))
    return counts


def read_split(catalog: Catalog, entry: DatasetEntry, split: str, *, keep_documents: bool = True) -> SplitResult:
    result = SplitResult(entry.name, split)
    stats: Counter[str] = Counter()
    for doc in iter_split(catalog, entry, split, result.rejects, stats):
        result.counts.update(document_counts(doc))
        if keep_documents:
            result.documents.append(doc)
    result.counts.update(stats)
    for reject in result.rejects:
        result.counts[f"rejects_{reject.action}"] += 1
    return result
