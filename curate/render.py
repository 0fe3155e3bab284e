"""Rendering records, and phase 2: select a dataset's examples for a stage by a seeded hash.

Selection and template choice depend only on the seed and stable example ids, never on which
worker runs or in what order, so the output is the same with 1 or 100 workers. Most first copies
are rendered in phase 1 already (``EarlyRender``); phase 2 keeps those a stage selects.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate import scratch
from curate.catalog import Catalog
from curate.cleaning.plan import removed_mask
from curate.cleaning.quality import record_problem
from curate.readers.base import Reject
from curate.tasks import get_task
from curate.tasks.base import Example, canonical_json, stable_hash
from curate.templates import TemplateLibrary

MESSAGES_TYPE = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
PROVENANCE_TYPE = pa.struct([("document_id", pa.string()), ("example_id", pa.string()),
                             ("source_file", pa.string()), ("catalog_entry_hash", pa.string())])
RECORD_SCHEMA = pa.schema([
    ("id", pa.string()), ("dataset", pa.string()), ("split", pa.string()), ("task", pa.string()),
    ("subtask", pa.string()), ("source_lang", pa.string()), ("prompt_lang", pa.string()),
    ("template_id", pa.string()), ("messages", MESSAGES_TYPE), ("answer_format", pa.string()), ("gold", pa.string()),
    ("provenance", PROVENANCE_TYPE),
    # appended last so that readers of the older columns are unaffected; see schemas/instruction.py
    ("answer_fields", pa.string()),
])
# 64-bit keys: the global order and the duplicate groups are computed on integers, which Arrow sorts and
# groups several times faster than strings (a collision among a million records has odds near 1e-8)
WORK_SCHEMA = RECORD_SCHEMA.append(pa.field("order_key", pa.uint64())).append(pa.field("dedup_key", pa.uint64()))
# what phase 1 adds to an example when it renders its first copy early (all null when it did not); the
# rest of a record (dataset, task, gold, provenance, ...) is rebuilt from the example's own columns
EARLY_FIELDS = [pa.field("id", pa.string()), pa.field("prompt_lang", pa.string()),
                pa.field("template_id", pa.string()), pa.field("messages", MESSAGES_TYPE),
                pa.field("answer_format", pa.string()), pa.field("answer_fields", pa.string()),
                pa.field("order_key", pa.uint64()), pa.field("dedup_key", pa.uint64()),
                pa.field("render_error", pa.string())]
EARLY_NAMES = tuple(f.name for f in EARLY_FIELDS)
_RECORD_EARLY_NAMES = tuple(name for name in EARLY_NAMES if name != "render_error")
LABELLED_TASKS = ("ner", "re", "ee", "tc", "tp")  # tasks whose examples cannot be asked without label options


@dataclass
class Selection:
    """Which examples of one (dataset, task) a stage takes: every example ``full`` times, plus one more
    copy of those whose rank is below ``threshold`` (None: no extra copy). Computed by the driver from
    all ranks of the dataset, so every unit decides alone and the result does not depend on workers."""

    full: int
    threshold: int | None


@dataclass(frozen=True)
class EarlyRender:
    """Which examples phase 1 renders (their first copy) while it converts them, so that phase 2 only
    filters: those of ``tasks`` that a stage can still select, with that stage's cross-lingual ratio.

    A stage takes at most ``cap`` examples of a dataset × task, those of lowest rank. The ``cap`` lowest
    ranks of the whole dataset are all among the ``cap`` lowest of the file they come from, so a file
    renders only the examples that are among its own ``cap`` lowest ranks when they arrive (a running
    heap): never more than ``cap`` per task plus those later pushed out. ``cap`` None renders every
    example (evaluation splits). Rendering early or late gives the same record, so this changes speed,
    never bytes."""

    tasks: frozenset[str]
    cross_lingual_ratio: float = 0.0
    cap: int | None = None
    # phase 2 renders from an example's fields only for extra copies (upsampling) or with another
    # cross-lingual ratio; when no stage does either, the fields are not written at all
    keep_fields: bool = True


class EarlyRenderer:
    """Phase 1's side of :class:`EarlyRender` for one file: the early columns of each example."""

    def __init__(self, spec: EarlyRender, catalog: Catalog, library: TemplateLibrary, seed: int) -> None:
        self.spec, self.catalog, self.library, self.seed = spec, catalog, library, seed
        self.lowest: dict[str, list[int]] = defaultdict(list)  # per task: max-heap (negated) of the lowest ranks
        self.rendered = 0

    def _may_be_selected(self, task: str, rank: int) -> bool:
        if task not in self.spec.tasks:
            return False
        cap = self.spec.cap
        if cap is None:
            return True
        lowest = self.lowest[task]
        if len(lowest) < cap:  # a plain list until it holds cap ranks, then a heap
            lowest.append(-rank)
            if len(lowest) == cap:
                heapq.heapify(lowest)
            return True
        if rank < -lowest[0]:
            heapq.heapreplace(lowest, -rank)
            return True
        return False

    def columns(self, examples: list[Example], ranks: list[int], golds: list[str]) -> dict[str, list[Any]]:
        """The early columns of a batch of examples (``golds``: their gold JSON), None where an example
        was not rendered early."""
        out: dict[str, list[Any]] = {name: [None] * len(examples) for name in EARLY_NAMES}
        for index, (example, rank) in enumerate(zip(examples, ranks, strict=True)):
            if not self._may_be_selected(example.task, rank):
                continue
            self.rendered += 1
            record, reason = render_example(example, 0, self.catalog, self.library, self.seed,
                                            self.spec.cross_lingual_ratio, gold_json=golds[index])
            if record is None:
                out["render_error"][index] = reason
                continue
            add_keys(record)
            for name in _RECORD_EARLY_NAMES:
                out[name][index] = record[name]
        return out


@dataclass
class RenderUnit:
    """One phase-1 example file rendered for one output (a stage, or ``eval``)."""

    output: str
    dataset: str
    example_file: str
    selections: dict[str, Selection] | None  # task -> selection; None = every example once (eval)
    cross_lingual_ratio: float = 0.0
    cache_key: str = ""  # set by the driver from everything the output depends on; "" = never cached
    early: bool = False  # phase 1 rendered first copies with this output's cross-lingual ratio
    dropped: dict[str, str] | None = None  # document id -> why the cleaning plan removes it (curate/cleaning)

    @property
    def key(self) -> str:
        return f"{self.output}/{self.dataset}/{Path(self.example_file).stem}"


def plan_selection(ranks: np.ndarray, quota: int) -> Selection:
    """The selection that takes exactly ``quota`` examples (copies beyond the first when quota > len)."""
    n = len(ranks)
    if n == 0 or quota <= 0:
        return Selection(0, None)
    full, remainder = divmod(quota, n)
    if remainder == 0:
        return Selection(full, None)
    threshold = int(np.partition(ranks, remainder)[remainder]) if remainder < n else None
    return Selection(full, threshold)


def copies(ranks: np.ndarray, selection: Selection) -> np.ndarray:
    """How many copies of each example (by rank) a selection takes: ``full``, plus one below ``threshold``."""
    taken = np.full(len(ranks), selection.full, dtype=np.int64)
    if selection.threshold is not None:
        taken += ranks < np.uint64(selection.threshold)
    return taken


def dedup_key(messages: list[dict[str, str]]) -> int:
    """Exact-duplicate key: the conversation with white space collapsed and case folded. (SHA-256 runs
    in hardware on current x86 and ARM cores: a third faster than BLAKE2b on a prompt's kilobyte.)"""
    blob = b"\x1e".join([folded(m["content"]) for m in messages])
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "big")


_ASCII_WHITESPACE = bytes.maketrans(b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f", b" " * 9)  # str.isspace() below 128


def folded(text: str) -> bytes:
    """``" ".join(text.split()).casefold()`` in UTF-8. ASCII text (most English prompts) takes a path
    that never splits it into words: the same bytes, and the key of a long English prompt costs ~30% less."""
    if not text.isascii():
        return " ".join(text.split()).casefold().encode()
    data = text.encode("ascii").translate(_ASCII_WHITESPACE)
    while b"  " in data:
        data = data.replace(b"  ", b" ")
    return data.strip(b" ").lower()


def add_keys(record: dict[str, Any]) -> dict[str, Any]:
    """The build's two 64-bit keys of a record (not part of it): ``order_key``, the global order, is
    the record id's first 64 bits (the id is a seeded hash already), and ``dedup_key``."""
    record["order_key"] = int(record["id"][:16], 16)
    record["dedup_key"] = dedup_key(record["messages"])
    return record


def render_example(example: Example, copy: int, catalog: Catalog, library: TemplateLibrary, seed: int,
                   cross_lingual_ratio: float = 0.0, gold_json: str | None = None) -> tuple[dict[str, Any] | None, str]:
    """One instruction record (or None and the reason it could not be made). ``gold_json``: the gold
    answer's canonical JSON when the caller has it already."""
    entry = catalog.dataset(example.dataset)
    task = get_task(example.task)
    if task is None:
        return None, f"no task family {example.task!r}"
    lang = task.prompt_language(example)
    if cross_lingual_ratio > 0:
        draw = int(stable_hash(seed, example.example_id, copy, "cross-lingual"), 16) / 16**16
        if draw < cross_lingual_ratio:
            lang = "zh" if lang == "en" else "en"
    has_labels = bool(example.fields.get("options")) or example.task not in LABELLED_TASKS
    force = entry.task_option(example.task).list_labels
    template = library.choose(example.task, example.subtask, has_labels, example.example_id, seed, copy,
                              lists_labels=force)
    if template is None:
        return None, f"no template for task {example.task} subtask {example.subtask}"
    fields = task.prompt_fields(example, entry, lang)
    try:
        prompt = template.render(fields, lang)
    except Exception as exc:  # the sandbox, StrictUndefined, a filter, the size bound: a reject, not a crash
        return None, (f"template {template.id} ({Path(template.file).name}, {lang}) failed to render: "
                      f"{type(exc).__name__}: {exc}; fix the template (curate templates lint)")
    fmt = template.spec.answer_format or task.format_for(example)
    response = task.render_answer(example, entry, lang, fmt)
    messages = task.messages(example, entry, lang, prompt, response)
    size = sum(len(m["content"]) for m in messages)
    if size > catalog.output.max_chars:
        return None, f"too long: {size} characters > output.max_chars {catalog.output.max_chars}"
    quality = catalog.output.quality
    if quality.checks_records and example.split in entry.train_splits:
        problem = record_problem(example.task, messages, quality)
        if problem:
            return None, problem
    record_id = stable_hash(example.example_id, template.id, lang, copy, seed, length=24)
    return {
        "id": record_id, "dataset": example.dataset, "split": example.split, "task": example.task,
        "subtask": example.subtask, "source_lang": example.source_lang, "prompt_lang": lang,
        "template_id": template.id, "messages": messages, "answer_format": fmt,
        "gold": gold_json if gold_json is not None else canonical_json(example.gold),
        "provenance": {"document_id": example.document_id, "example_id": example.example_id,
                       "source_file": example.source_file, "catalog_entry_hash": entry.fingerprint()},
        "answer_fields": canonical_json(task.answer_fields(example, entry, lang)),
    }, ""


def render_unit(unit: RenderUnit, catalog: Catalog, library: TemplateLibrary, seed: int,
                work_dir: Path) -> dict[str, Any]:
    """Select and render one example file for one output, streaming it in batches; write a work file;
    return counts and rejects.

    First taken that phase 1 rendered early are taken with vectorised filters; Python renders only
    the rest (extra taken when upsampling, and examples phase 1 did not render)."""
    out = work_dir / "phase2" / f"{unit.key}{scratch.SUFFIX}"
    summary_path = out.with_suffix(".json")
    if unit.cache_key and out.exists() and summary_path.exists():
        cached = json.loads(summary_path.read_text(encoding="utf-8"))
        if cached.get("cache_key") == unit.cache_key:
            return {**cached, "cached": True}
    counts: Counter[str] = Counter()
    rejects: list[dict[str, Any]] = []
    written = 0
    entry_hash = catalog.dataset(unit.dataset).fingerprint()
    language = catalog.dataset(unit.dataset).language
    if unit.early:
        # every example taken once, its copy rendered early: the phase-1 file is the output as it is
        plan = scratch.read_table(unit.example_file, columns=["task", "rank", "order_key"]
                                  + (["document_id"] if unit.dropped else []))
        taken = _copies(plan, unit.selections, counts, unit.dropped)
        if bool((taken == 1).all()) and plan.column("order_key").null_count == 0:
            summary = {"output": unit.output, "dataset": unit.dataset, "language": language,
                       "path": unit.example_file, "early_entry_hash": entry_hash, "rows": plan.num_rows,
                       "counts": dict(sorted(counts.items())), "rejects": [], "cache_key": unit.cache_key}
            return {**summary, "cached": False}
        counts.clear()
    out.parent.mkdir(parents=True, exist_ok=True)
    # streamed: a worker holds one batch of records; the driver puts them in global order later
    with scratch.writer(out, WORK_SCHEMA) as writer:
        for batch in scratch.iter_batches(unit.example_file):
            table = pa.Table.from_batches([batch])
            taken = _copies(table, unit.selections, counts, unit.dropped)
            selected = taken > 0
            if unit.early:
                done = selected & table.column("order_key").is_valid().to_numpy(zero_copy_only=False)
                failed = selected & table.column("render_error").is_valid().to_numpy(zero_copy_only=False)
            else:
                done = failed = np.zeros(len(taken), dtype=bool)
            parts = []
            if done.any():
                parts.append(_early_records(table.filter(pa.array(done)), entry_hash))
            rows: list[dict[str, Any]] = []
            python = np.flatnonzero(failed | (taken > 1) | (selected & ~done & ~failed))
            for index, row in zip(python, table.take(python).to_pylist() if len(python) else [], strict=True):
                first = 1 if failed[index] or done[index] else 0  # copy 0 was rendered early
                if failed[index]:  # copy 0 failed early (e.g. too long): a reject, nothing to render again
                    counts[f"unrenderable.{row['task']}"] += 1
                    rejects.append(_reject_row(row, row["render_error"]))
                if int(taken[index]) <= first:
                    continue
                if row["fields"] is None:
                    raise RuntimeError(f"{unit.example_file}: example {row['example_id']} must be rendered again "
                                       "but phase 1 kept no fields (a bug in EarlyRender.keep_fields)")
                example = Example.from_row(row)
                for copy in range(first, int(taken[index])):
                    record, reason = render_example(example, copy, catalog, library, seed, unit.cross_lingual_ratio)
                    if record is None:
                        counts[f"unrenderable.{example.task}"] += 1
                        rejects.append(_reject(example, reason))
                    else:
                        rows.append(add_keys(record))
            if rows:
                parts.append(pa.Table.from_pylist(rows, schema=WORK_SCHEMA))
            if parts:  # one record batch per input batch (see FILE_BATCH_ROWS in convert.py)
                part = pa.concat_tables(parts).combine_chunks()
                writer.write_table(part, max_chunksize=max(part.num_rows, 1))
                written += part.num_rows
    summary = {"output": unit.output, "dataset": unit.dataset, "language": language, "path": str(out), "rows": written,
               "counts": dict(sorted(counts.items())), "rejects": rejects, "cache_key": unit.cache_key}
    tmp_summary = summary_path.with_suffix(".json.tmp")
    tmp_summary.write_text(summary_json(summary), encoding="utf-8")
    tmp_summary.replace(summary_path)
    return {**summary, "cached": False}


def _copies(table: pa.Table, selections: dict[str, Selection] | None, counts: Counter[str],
            dropped: dict[str, str] | None = None) -> np.ndarray:
    """How many copies of each example of a batch the output takes; counts what is available and selected.
    Examples of ``dropped`` documents (the cleaning plan's) are none of these: counted per reason, not taken."""
    tasks = table.column("task")
    taken = np.zeros(table.num_rows, dtype=np.int64)
    ranks = table.column("rank").to_numpy()
    gone = np.zeros(table.num_rows, dtype=bool)
    for reason, removed in (removed_mask(table, dropped) if dropped else {}).items():
        removed = removed.to_numpy(zero_copy_only=False)
        for task, n in Counter(np.asarray(tasks.to_pylist(), dtype=object)[removed].tolist()).items():
            counts[f"{reason}.{task}"] += n
        gone |= removed
    for task in pc.unique(tasks).to_pylist():
        mask = pc.equal(tasks, task).to_numpy(zero_copy_only=False) & ~gone
        counts[f"available.{task}"] += int(mask.sum())
        if selections is None:
            taken[mask] = 1
        elif (selection := selections.get(task)) is not None:
            taken[mask] = copies(ranks[mask], selection)
        counts[f"selected.{task}"] += int(taken[mask].sum())
    return taken


# the columns records_of needs: from a phase-2 work file, and from a phase-1 file taken whole
LATE_RECORD_COLUMNS = list(RECORD_SCHEMA.names)
EARLY_RECORD_COLUMNS = [n for n in RECORD_SCHEMA.names if n != "provenance"] + ["document_id", "example_id",
                                                                                "source_file"]


def records_of(table: pa.Table, early_entry_hash: str | pa.Array | None = None) -> pa.Table:
    """RECORD_SCHEMA rows from rows of a phase-2 work file, or (``early_entry_hash`` given: one, or one
    per row) from rows of a phase-1 file whose first copies were rendered early."""
    if early_entry_hash is not None:
        table = _early_records(table, early_entry_hash)
    return table.select(RECORD_SCHEMA.names)


def _early_records(table: pa.Table, entry_hash: str | pa.Array) -> pa.Table:
    """Work rows from examples whose first copy phase 1 rendered: its columns plus the example's own."""
    table = table.combine_chunks()
    hashes = pa.array([entry_hash] * table.num_rows, pa.string()) if isinstance(entry_hash, str) else entry_hash
    provenance = pa.StructArray.from_arrays(
        [table.column(name).chunk(0) for name in ("document_id", "example_id", "source_file")] + [hashes],
        fields=list(PROVENANCE_TYPE))
    names = [n for n in WORK_SCHEMA.names if n == "provenance" or n in table.column_names]
    columns = {name: (provenance if name == "provenance" else table.column(name)) for name in names}
    return pa.Table.from_pydict(columns, schema=pa.schema([WORK_SCHEMA.field(n) for n in names]))


def _reject(example: Example, reason: str) -> dict[str, Any]:
    return Reject(example.dataset, example.split, example.source_file, None, example.document_id, example.task,
                  reason).to_dict()


def _reject_row(row: dict[str, Any], reason: str) -> dict[str, Any]:
    """The reject of an example file's row (its fields may not have been kept)."""
    return Reject(row["dataset"], row["split"], row["source_file"], None, row["document_id"], row["task"],
                  reason).to_dict()


def summary_json(summary: dict[str, Any]) -> str:
    return json.dumps(summary, ensure_ascii=False, sort_keys=True)
