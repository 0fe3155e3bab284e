"""Phase 1: read one source file of one dataset split and turn its documents into task examples.

A unit of work is a whole file, so Ray's per-call overhead stays small. Its output (an example
Arrow IPC file and a JSON summary with counts and rejects) is cached under a key of the file's
content, the catalog entry and the code version: a rerun skips finished units.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pyarrow as pa

from curate import __version__, storage
from curate.build import intermediate
from curate.build.document_windows import split_long_document, windowing_fingerprint
from curate.build.early import EARLY_FIELDS, EarlyRenderer
from curate.build.plan import ExtractUnit
from curate.build.summaries import ExtractSummary
from curate.catalog import DatasetEntry, QualityFilters
from curate.cleaning.documents import SUFFIX as DOCUMENTS_SUFFIX
from curate.cleaning.documents import DocumentTable
from curate.cleaning.overlap import EvalDocuments
from curate.cleaning.quality import document_problem
from curate.decontam import TOKENS_RULE, EvalIndex, ngram_hashes
from curate.readers import ReadContext, get_reader
from curate.readers.base import ARCHIVE_SEPARATOR, Reject
from curate.tasks import get_task, tasks_fingerprint
from curate.tasks.base import Example, canonical_json, selection_ranks, stable_hash

# a phase-1 file: the examples (without their decontamination text, used up by then), their selection
# rank, and the first copy's record columns where phase 1 rendered it early (see EarlyRender)
EXAMPLE_SCHEMA = pa.schema([
    ("example_id", pa.string()), ("dataset", pa.string()), ("split", pa.string()), ("task", pa.string()),
    ("subtask", pa.string()), ("source_lang", pa.string()), ("document_id", pa.string()),
    ("source_file", pa.string()), ("fields", pa.string()), ("gold", pa.string()), ("rank", pa.uint64()),
    *EARLY_FIELDS,
])


FILE_BATCH_ROWS = 65_536  # rows per record batch of a phase-1 file (about 50 MB at most)


def file_digest(path: str) -> str:
    """Content hash of a source file (of the archive, for archive members)."""
    real = storage.stage_source(path).split(ARCHIVE_SEPARATOR, 1)[0]
    digest = hashlib.sha256()
    with open(real, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def unit_cache_key(unit: ExtractUnit, entry: DatasetEntry) -> str:
    # the task code is part of the key: examples made by an older version of it must not be reused
    return stable_hash(file_digest(unit.file), unit.file, entry.fingerprint(), __version__, tasks_fingerprint(),
                       length=32)


def extract_unit(unit: ExtractUnit, entry: DatasetEntry, work_dir: Path, normalize: Any = None,
                 ngram: int | None = None, window_chars: int | None = None,
                 eval_index: EvalIndex | None = None, seed: int = 0,
                 early: EarlyRenderer | None = None, early_key: str = "",
                 documents: DocumentTable | None = None, quality: QualityFilters | None = None,
                 cleaning_key: str = "", eval_documents: EvalDocuments | None = None) -> ExtractSummary:
    """Read, validate and turn into examples one unit; write its examples and summary; return the summary.

    For an evaluation split (``ngram`` set) it also writes the n-gram hashes of its inputs; for a
    training split (``eval_index`` given) it drops the examples of documents that share an n-gram
    with an evaluation input, so that mixing counts only clean examples. With ``early`` it renders
    the first copy of the examples a stage may select (``early_key``: what those renders depend on).
    With ``documents`` it records every document for the cleaning plan (curate/cleaning); with
    ``quality`` (a training split) it drops the examples of documents a quality filter rejects
    (``cleaning_key``: what both depend on); with ``eval_documents`` (a training split) those of
    documents whose text is another dataset's evaluation document (counted as ``overlap``).
    """
    out_dir = unit_dir(work_dir, unit)
    storage.makedirs(out_dir)
    examples_path = example_file(work_dir, unit)
    summary_path = out_dir / f"{unit.key}.json"
    windowing = [window_chars, windowing_fingerprint()] if window_chars else window_chars  # windows change examples
    cache_key = stable_hash(unit_cache_key(unit, entry), [ngram, TOKENS_RULE] if ngram else ngram, windowing, seed,
                            normalize is not None,
                            eval_index.fingerprint() if eval_index is not None else "",
                            early_key if early is not None else "", cleaning_key,
                            eval_documents.fingerprint() if eval_documents is not None else "",
                            # only a file with colliding ids has a qualifier: other keys stay as they were
                            *([sorted(unit.qualify), unit.qualifier] if unit.qualify else []), length=32)
    table_path = documents_path(work_dir, unit)
    # the summary is the unit's commit marker: written last, after every file it vouches for
    if storage.exists(summary_path) and storage.exists(examples_path) and (documents is None
                                                                            or storage.exists(table_path)):
        cached = ExtractSummary.from_json(storage.read_text(summary_path))
        if cached.cache_key == cache_key:
            cached.cached = True
            return cached
    # the old marker goes before its files are rewritten: a run killed from here on leaves no summary that
    # vouches for files another key wrote
    storage.remove(summary_path)

    started = time.perf_counter()
    scan = UnitScan(unit, entry, normalize, window_chars)
    verdicts: dict[str, list[str]] = {}
    removed: Counter[str] = Counter()
    grams: dict[str, np.ndarray] = {}
    problems: dict[str, str | None] = {}  # quality verdict per document
    filtered: Counter[str] = Counter()
    leaks: dict[str, list[str]] = {}  # evaluation splits of other datasets holding a document's text
    leaked: Counter[str] = Counter()
    kept = 0
    batch: list[Example] = []
    pending: list[pa.Table] = []
    with_fields = early is None or early.spec.keep_fields

    def flush(last: bool = False) -> None:
        # converting a whole batch after reading it is markedly faster than alternating the two per
        # example (the interpreter's caches stay warm), and a worker still holds one batch at a time
        if batch:
            pending.append(example_table(batch, seed, early, with_fields))
        batch.clear()
        # written in record batches of up to FILE_BATCH_ROWS: in Arrow form a batch is compact, and the
        # driver cuts each batch once per pass when it gathers shards, so fewer batches cost less
        if pending and (last or sum(t.num_rows for t in pending) >= FILE_BATCH_ROWS):
            writer.write_table(pa.concat_tables(pending).combine_chunks(), max_chunksize=FILE_BATCH_ROWS)
            pending.clear()

    with intermediate.writer(examples_path, EXAMPLE_SCHEMA) as writer:
        for example in scan.examples():
            doc_key = f"{example.split}/{example.document_id}"
            if documents is not None:  # every document read, whatever removes its examples here
                key = documents.add(example.document_id, example.text_for_decontam, example.source_lang,
                                    example.task)
                if key is not None and eval_documents is not None:
                    leaks[example.document_id] = eval_documents.leaks(key, unit.dataset)
            if eval_index is not None and len(eval_index):
                if doc_key not in verdicts:
                    verdicts[doc_key] = eval_index.matches(example.text_for_decontam)
                if verdicts[doc_key]:
                    removed[example.task] += 1
                    continue
            if leaks.get(example.document_id):  # (after n-gram decontamination, which reports its own)
                leaked[example.task] += 1
                continue
            if quality is not None:
                if doc_key not in problems:
                    problems[doc_key] = document_problem(example.text_for_decontam, example.source_lang, quality)
                if problems[doc_key]:
                    filtered[example.task] += 1
                    continue
            if ngram and doc_key not in grams:
                grams[doc_key] = ngram_hashes(example.text_for_decontam, ngram)
            batch.append(example)
            kept += 1
            if len(batch) >= 2048:
                flush()
        flush(last=True)
    summary = scan.summary()
    summary["cache_key"] = cache_key
    summary["unit_key"] = unit.key
    if removed:
        stats = summary["stats"]
        for task, n in removed.items():
            stats[f"examples.{task}"] -= n
            stats[f"decontaminated.{task}"] = n
        summary["stats"] = dict(sorted(stats.items()))
        summary["contaminated"] = {k: v for k, v in sorted(verdicts.items()) if v}
    if filtered:  # reported as rejects of the document, counted per task as the stages' rejected
        stats = summary["stats"]
        for task, n in filtered.items():
            stats[f"examples.{task}"] -= n
            stats[f"filtered.{task}"] = n
        summary["stats"] = dict(sorted(stats.items()))
        summary["rejects"] += [Reject(unit.dataset, unit.split, unit.display_file, None, k.split("/", 1)[1],
                                      "text", reason, "filtered").to_dict()
                               for k, reason in sorted(problems.items()) if reason]
    if leaked:  # removed as another dataset's evaluation document: the stages count them as decontaminated
        stats = summary["stats"]
        for task, n in leaked.items():
            stats[f"examples.{task}"] -= n
            stats[f"overlap.{task}"] = n
        summary["stats"] = dict(sorted(stats.items()))
    if documents is not None:
        documents.save(table_path)
    summary["examples"] = kept
    summary["rendered_early"] = early.rendered if early is not None else 0
    summary["seconds"] = round(time.perf_counter() - started, 3)  # for performance reports; not in outputs
    if ngram:
        parts = [grams[k] for k in sorted(grams)]
        hashes = np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.uint64)
        storage.save_npy(ngrams_path(work_dir, unit), hashes)
        summary["eval_ngrams"] = len(hashes)
    typed = ExtractSummary.from_dict(summary)
    storage.write_bytes(summary_path, typed.to_json().encode("utf-8"))
    return typed


def example_table(examples: list[Example], seed: int, early: EarlyRenderer | None, with_fields: bool) -> pa.Table:
    """A batch of examples as EXAMPLE_SCHEMA rows, built column by column: their selection rank (the
    driver plans selections from it) and, with ``early``, the first copy of those a stage may take."""
    n = len(examples)
    ranks = selection_ranks(seed, [e.example_id for e in examples])
    golds = [canonical_json(e.gold) for e in examples]
    columns: dict[str, Any] = {
        "example_id": [e.example_id for e in examples], "dataset": [e.dataset for e in examples],
        "split": [e.split for e in examples], "task": [e.task for e in examples],
        "subtask": [e.subtask for e in examples], "source_lang": [e.source_lang for e in examples],
        "document_id": [e.document_id for e in examples], "source_file": [e.source_file for e in examples],
        "fields": [canonical_json(e.fields) for e in examples] if with_fields else None,
        "gold": golds, "rank": ranks,
    }
    if early is not None:
        columns.update(early.columns(examples, ranks.tolist(), golds))
        if not with_fields and early.spec.fields_unless_rendered:  # phase 2 may render the others
            columns["fields"] = [canonical_json(e.fields) if done is None and failed is None else None
                                 for e, done, failed in zip(examples, columns["order_key"], columns["render_error"],
                                                            strict=True)]
    return pa.Table.from_arrays(
        [pa.nulls(n, f.type) if columns.get(f.name) is None else pa.array(columns[f.name], f.type)
         for f in EXAMPLE_SCHEMA], schema=EXAMPLE_SCHEMA)


class UnitScan:
    """Reading one unit as a stream of example rows; ``summary()`` gives its counts once read.

    Counts are of the source documents; examples come from their windows when a text is longer
    than ``window_chars``.
    """

    def __init__(self, unit: ExtractUnit, entry: DatasetEntry, normalize: Any = None,
                 window_chars: int | None = None) -> None:
        assert entry.format is not None
        self.unit, self.entry, self.normalize, self.window_chars = unit, entry, normalize, window_chars
        self.ctx = ReadContext(unit.dataset, unit.split, unit.display_file, entry.language, frozenset(entry.labels))
        self.documents = 0
        self.count = 0
        self.stats: Counter[str] = Counter()

    def rows(self) -> Iterator[dict[str, Any]]:
        return (example.to_row() for example in self.examples())

    def examples(self) -> Iterator[Example]:
        entry, ctx, stats = self.entry, self.ctx, self.stats
        reader = get_reader(entry.format, entry.options)  # type: ignore[arg-type]
        tasks = [t for t in (get_task(name) for name in entry.tasks) if t is not None]
        for doc in reader.read(storage.stage_source(self.unit.file), ctx):  # a URI: copied here once
            if self.normalize is not None:
                doc = self.normalize(doc, entry, ctx)
                if doc is None:
                    continue
            if doc.id in self.unit.qualify:
                doc = doc.model_copy(update={"id": f"{self.unit.qualifier}:{doc.id}"})
            self.documents += 1
            _count_annotations(doc, stats)
            windows = self.window_chars and doc.kind == "ie"
            parts = split_long_document(doc, self.window_chars, ctx) if windows else [doc]
            if len(parts) > 1:
                stats["windows"] += len(parts)
            for part in parts:
                for task in tasks:
                    if not task.accepts(part):
                        continue
                    for example in task.examples(part, entry, self.unit.display_file):
                        stats[f"examples.{task.name}"] += 1
                        self.count += 1
                        yield example

    def summary(self) -> dict[str, Any]:
        ctx = self.ctx
        stats = self.stats + Counter()  # drop zero counts
        stats.update(ctx.stats)  # counts about the file itself, e.g. rows filtered out or unlabeled
        return {
            "dataset": self.unit.dataset, "split": self.unit.split, "file": self.unit.display_file,
            "documents": self.documents, "rejected": ctx.rejected_records,
            "annotations_dropped": sum(1 for r in ctx.rejects if r.action == "dropped"),
            "annotations_repaired": sum(1 for r in ctx.rejects if r.action == "repaired"),
            "annotations_over_budget": sum(1 for r in ctx.rejects if r.action == "over_budget"),
            "stats": dict(sorted(stats.items())), "examples": self.count,
            "rejects": [r.to_dict() for r in ctx.rejects], "cached": False,
        }


def file_stem(display_file: str) -> str:
    """A file's name without its extension (of the member, for ``archive!member``)."""
    return PurePosixPath(display_file.split(ARCHIVE_SEPARATOR)[-1]).stem


def process_unit(unit: ExtractUnit, entry: DatasetEntry, normalize: Any = None, window_chars: int | None = None,
                 ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Read one unit into example rows (in reading order) and a summary of counts and rejects."""
    scan = UnitScan(unit, entry, normalize, window_chars)
    rows = list(scan.rows())
    return rows, scan.summary()


def _count_annotations(doc: Any, stats: Counter[str]) -> None:
    if doc.kind == "ie":
        stats["entities"] += len(doc.entities)
        stats["relations"] += len(doc.relations)
        stats["events"] += len(doc.events)
        stats["coreferences"] += len(doc.coreferences)
        for key, value in doc.stats.items():
            stats[key] += value
    elif doc.kind == "qa":
        stats["questions"] += 1
    elif doc.kind == "dialogue":
        stats["turns"] += len(doc.turns)


def unit_dir(work_dir: Path, unit: ExtractUnit) -> Path:
    """Where phase 1 keeps a unit's files (examples, summary, n-grams)."""
    return work_dir / "phase1" / unit.dataset / unit.split


def example_file(work_dir: Path, unit: ExtractUnit) -> Path:
    return unit_dir(work_dir, unit) / f"{unit.key}{intermediate.SUFFIX}"


def documents_path(work_dir: Path, unit: ExtractUnit) -> Path:
    """A unit's document table for the cleaning plan (see curate/cleaning/documents.py)."""
    return unit_dir(work_dir, unit) / f"{unit.key}{DOCUMENTS_SUFFIX}"


def ngrams_path(work_dir: Path, unit: ExtractUnit) -> Path:
    return unit_dir(work_dir, unit) / f"{unit.key}.ngrams.npy"
