"""Exports of a build to the formats other trainers read: Firefly/Taiyi conversation JSONL and
LLaMA-Factory (sharegpt JSON plus its dataset_info.json)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from curate.errors import CurateError
from curate.shards import write_atomic, write_json

TAIYI_CATEGORY = {"ner": "NER", "nen": "NEN", "re": "RE", "ee": "EE", "tc": "TC", "tp": "TP", "qa": "QA",
                  "dialogue": "MRD", "mt": "MT", "t2t": "TT"}


def stage_records(build: Path, stage: str, split: str | None = "train") -> Iterator[dict[str, Any]]:
    """The records of one output of a build, in shard order."""
    import pyarrow.parquet as pq

    manifest_path = build / stage / "manifest.json"
    if not manifest_path.exists():
        raise CurateError(f"{manifest_path}: not found; is {build} a curate build with an output named {stage!r}?")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    for shard in manifest["shards"]:
        if split is None or shard["split"] == split:
            yield from pq.read_table(build / stage / shard["path"]).to_pylist()


def _pairs(messages: list[dict[str, str]]) -> list[tuple[str, str]]:
    turns = [m for m in messages if m["role"] != "system"]
    return [(turns[i]["content"], turns[i + 1]["content"]) for i in range(0, len(turns) - 1, 2)]


def to_firefly(record: dict[str, Any], conversation_id: int) -> dict[str, Any]:
    category = TAIYI_CATEGORY.get(record["task"], record["task"].upper())
    language = record["prompt_lang"] if record["prompt_lang"] == record["source_lang"] else (
        f"{record['source_lang']}-{record['prompt_lang']}")
    return {"conversation_id": conversation_id, "dataset": record["dataset"], "category": category,
            "language": language, "conversation": [{"human": h, "assistant": a} for h, a in
                                                   _pairs(record["messages"])]}


def to_sharegpt(record: dict[str, Any]) -> dict[str, Any]:
    role = {"user": "human", "assistant": "gpt"}
    out: dict[str, Any] = {"conversations": [{"from": role[m["role"]], "value": m["content"]}
                                             for m in record["messages"] if m["role"] in role]}
    system = [m["content"] for m in record["messages"] if m["role"] == "system"]
    if system:
        out["system"] = system[0]
    return out


def export_build(build: Path, stage: str, fmt: str, out: Path, split: str = "train") -> dict[str, Any]:
    """Write one output of a build in ``fmt`` (firefly or llamafactory) under ``out``; return a summary."""
    out.mkdir(parents=True, exist_ok=True)
    records = stage_records(build, stage, split)
    name = f"curate_{stage}_{split}"
    if fmt == "firefly":
        path = out / f"{name}.jsonl"
        lines = [json.dumps(to_firefly(r, i), ensure_ascii=False) + "\n" for i, r in enumerate(records, start=1)]
        write_atomic(path, "".join(lines))
        return {"format": fmt, "path": str(path), "rows": len(lines)}
    if fmt == "llamafactory":
        path = out / f"{name}.json"
        rows = [to_sharegpt(r) for r in records]
        write_json(path, rows)
        info_path = out / "dataset_info.json"
        info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
        info[name] = {"file_name": path.name, "formatting": "sharegpt",
                      "columns": {"messages": "conversations", "system": "system"},
                      "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human",
                               "assistant_tag": "gpt"}}
        write_json(info_path, info)
        return {"format": fmt, "path": str(path), "rows": len(rows), "dataset_info": str(info_path)}
    raise CurateError(f"unknown export format {fmt!r}: use firefly or llamafactory")
