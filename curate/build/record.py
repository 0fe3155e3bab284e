"""One example to one instruction record (``schemas.instruction``), and the record's two 64-bit keys.

Used by phase 1 (early render), phase 2 (render), ``curate preview`` and ``curate validate``: a library
of the render concept, not a step, so no step imports a later one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pyarrow as pa

from curate.catalog import Catalog
from curate.cleaning.quality import record_problem
from curate.tasks import get_task
from curate.tasks.base import Example, canonical_json, stable_hash
from curate.templates import TemplateLibrary
from schemas.instruction import RECORD_SCHEMA

LABELLED_TASKS = ("ner", "re", "ee", "tc", "tp")  # tasks whose examples cannot be asked without label options


# 64-bit keys: the global order and the duplicate groups are computed on integers, which Arrow sorts and
# groups several times faster than strings (a collision among a million records has odds near 1e-8)
WORK_SCHEMA = RECORD_SCHEMA.append(pa.field("order_key", pa.uint64())).append(pa.field("dedup_key", pa.uint64()))


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
    quality = catalog.quality_filters(example.dataset)  # output.quality less the dataset's own switches
    if quality.checks_records and example.split in entry.train_splits:
        problem = record_problem(example.task, messages, quality, size)
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

