"""Exports of a build to the formats other trainers read: Firefly/Taiyi conversation JSONL and
LLaMA-Factory (sharegpt or alpaca JSON, registered in its ``dataset_info.json``).

The Firefly rows follow Taiyi's released example record (``Taiyi_Instruction_Data_Example.jsonl``):
Taiyi's category names (``MT-en2zh``, ``QA_choice``, ``TP-ss``, ``TT-ds``, ...) and the translation
direction in ``language`` (``en-zh`` for English to Chinese). docs/training.md lists the fields.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from curate.atomic_files import write_atomic, write_json
from curate.build_dir import BuildDir
from curate.errors import CurateError

FORMATS = ("firefly", "llamafactory", "llamafactory-alpaca")  # llamafactory = its sharegpt layout

TAIYI_CATEGORY = {"ner": "NER", "nen": "NEN", "re": "RE", "ee": "EE", "tc": "TC", "tp": "TP", "qa": "QA",
                  "dialogue": "MRD", "mt": "MT", "t2t": "TT"}
# Taiyi names a category by task and subtask where the subtask changes what is asked
TAIYI_SUBTASK_CATEGORY = {
    ("mt", "en2zh"): "MT-en2zh", ("mt", "zh2en"): "MT-zh2en",
    ("qa", "multiple_choice"): "QA_choice", ("qa", "yesno"): "QA_choice", ("qa", "free"): "QA_sqa",
    ("tp", "ss"): "TP-ss", ("tp", "te"): "TP-te",
    ("t2t", "summary"): "TT-ds", ("t2t", "title"): "TT-ds", ("t2t", "report"): "TT-ts",
}
TRANSLATION_LANGUAGE = {"en2zh": "en-zh", "zh2en": "zh-en"}  # source-target, as Taiyi writes it


def stage_manifest(build: Path, stage: str) -> dict[str, Any]:
    """The manifest of one output of a build; a clear error when there is none."""
    return BuildDir(build).output_manifest(stage)


def stage_records(build: Path, stage: str, split: str | None = "train") -> Iterator[dict[str, Any]]:
    """The records of one output of a build, in shard order."""
    return BuildDir(build).records(stage, None if split is None else [split])


def _pairs(messages: list[dict[str, str]]) -> list[tuple[str, str]]:
    turns = [m for m in messages if m["role"] != "system"]
    return [(turns[i]["content"], turns[i + 1]["content"]) for i in range(0, len(turns) - 1, 2)]


def _system(messages: list[dict[str, str]]) -> str | None:
    return next((m["content"] for m in messages if m["role"] == "system"), None)


def taiyi_category(task: str, subtask: str) -> str:
    """Taiyi's category name of a task × subtask (``MT-en2zh``, ``QA_choice``, ``NER``...)."""
    return TAIYI_SUBTASK_CATEGORY.get((task, subtask), TAIYI_CATEGORY.get(task, task.upper()))


def taiyi_language(record: dict[str, Any]) -> str:
    """``en``/``zh`` for a monolingual record; ``en-zh``/``zh-en`` (source-target) for translation and
    for a cross-lingual prompt (source text in one language, instruction and answer in the other)."""
    if record["task"] == "mt" and record["subtask"] in TRANSLATION_LANGUAGE:
        return TRANSLATION_LANGUAGE[record["subtask"]]
    if record["prompt_lang"] == record["source_lang"]:
        return record["prompt_lang"]
    return f"{record['source_lang']}-{record['prompt_lang']}"


def conversation_id(stage: str, split: str, record_id: str, taken: set[int]) -> int:
    """A positive 60-bit integer from the output, split and record id: the same record gets the same id on
    every export, and exports of different stages or splits do not share ids (Taiyi's ids are integers)."""
    salt = 0
    while True:
        digest = hashlib.sha256(f"{stage}/{split}/{record_id}/{salt}".encode()).hexdigest()
        value = int(digest[:15], 16) or 1
        if value not in taken:
            taken.add(value)
            return value
        salt += 1


def to_firefly(record: dict[str, Any], conversation_id: int) -> dict[str, Any]:
    """One Firefly/Taiyi row: conversation_id, dataset, category, language, conversation, and system if any."""
    row: dict[str, Any] = {"conversation_id": conversation_id, "dataset": record["dataset"],
                           "category": taiyi_category(record["task"], record["subtask"]),
                           "language": taiyi_language(record),
                           "conversation": [{"human": h, "assistant": a} for h, a in _pairs(record["messages"])]}
    system = _system(record["messages"])
    if system is not None:
        row["system"] = system
    return row


def to_sharegpt(record: dict[str, Any]) -> dict[str, Any]:
    role = {"user": "human", "assistant": "gpt"}
    out: dict[str, Any] = {"conversations": [{"from": role[m["role"]], "value": m["content"]}
                                             for m in record["messages"] if m["role"] in role]}
    system = _system(record["messages"])
    if system is not None:
        out["system"] = system
    return out


def to_alpaca(record: dict[str, Any]) -> dict[str, Any]:
    """Alpaca layout: the last turn as instruction/output, earlier turns as ``history`` pairs."""
    pairs = _pairs(record["messages"])
    instruction, output = pairs[-1] if pairs else ("", "")
    out: dict[str, Any] = {"instruction": instruction, "input": "", "output": output,
                           "history": [list(p) for p in pairs[:-1]]}
    system = _system(record["messages"])
    if system is not None:
        out["system"] = system
    return out


def _llamafactory_entry(file_name: str, formatting: str, has_system: bool) -> dict[str, Any]:
    """A dataset_info.json entry; ``system`` is mapped only when the rows carry one."""
    if formatting == "sharegpt":
        columns = {"messages": "conversations"}
        entry: dict[str, Any] = {"file_name": file_name, "formatting": "sharegpt", "columns": columns,
                                 "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human",
                                          "assistant_tag": "gpt"}}
    else:
        columns = {"prompt": "instruction", "query": "input", "response": "output", "history": "history"}
        entry = {"file_name": file_name, "formatting": "alpaca", "columns": columns}
    if has_system:
        columns["system"] = "system"
    return entry


def export_build(build: Path, stage: str, fmt: str, out: Path, split: str = "train") -> dict[str, Any]:
    """Write one output of a build in ``fmt`` (see FORMATS) under ``out``; return a summary."""
    if fmt not in FORMATS:
        raise CurateError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    stage_manifest(build, stage)  # fail before anything is written
    records = stage_records(build, stage, split)
    name = f"curate_{stage}_{split}"
    if fmt == "firefly":
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{name}.jsonl"
        taken: set[int] = set()
        lines = [json.dumps(to_firefly(r, conversation_id(stage, split, r["id"], taken)), ensure_ascii=False) + "\n"
                 for r in records]
        write_atomic(path, "".join(lines))
        return {"format": fmt, "path": str(path), "rows": len(lines)}
    formatting = "sharegpt" if fmt == "llamafactory" else "alpaca"
    convert = to_sharegpt if formatting == "sharegpt" else to_alpaca
    rows = [convert(r) for r in records]
    has_system = any("system" in r for r in rows)
    if has_system:  # a mapped column must be in every row
        rows = [{**r, "system": r.get("system", "")} for r in rows]
    out.mkdir(parents=True, exist_ok=True)
    if formatting == "alpaca":
        name += "_alpaca"
    path = out / f"{name}.json"
    write_json(path, rows)
    info_path = out / "dataset_info.json"
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
    info[name] = _llamafactory_entry(path.name, formatting, has_system)
    write_json(info_path, info)
    return {"format": fmt, "path": str(path), "rows": len(rows), "dataset_info": str(info_path), "name": name}
