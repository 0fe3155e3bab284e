"""A small curate build written with pyarrow in exactly the build contract (manifests + parquet shards).

Stand-in until ``curate.build.run_build`` lands on this branch: stage1 holds non-dialogue tasks only, stage2
adds QA and multi-turn dialogues, eval holds a test split. Swap ``write_fixture_build`` for a real demo build
(``run_build(catalog_path, out_dir, workers=1, seed=0)``) once it exists.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

DISEASES = ["asthma", "diabetes", "hepatitis", "anemia", "migraine", "sepsis", "gout", "psoriasis"]
DRUGS = ["aspirin", "metformin", "insulin", "ibuprofen", "heparin", "warfarin", "statin", "cisplatin"]
ZH_DISEASES = ["哮喘", "糖尿病", "肝炎", "贫血", "偏头痛", "痛风"]
ZH_DRUGS = ["阿司匹林", "二甲双胍", "胰岛素", "布洛芬", "肝素"]
TOPICS = ["treatment", "diagnosis", "prevention", "mechanism"]


def _record(
    rid: str, dataset: str, split: str, task: str, lang: str, messages: list[dict[str, str]], gold: Any
) -> dict:
    return {
        "id": rid,
        "dataset": dataset,
        "split": split,
        "task": task,
        "subtask": "",
        "source_lang": lang,
        "prompt_lang": lang,
        "template_id": f"{task}-{lang}-01",
        "messages": messages,
        "answer_format": "text",
        "gold": json.dumps(gold, ensure_ascii=False, sort_keys=True),
        "provenance": {
            "document_id": f"doc-{rid}",
            "example_id": f"ex-{rid}",
            "source_file": f"{dataset}/{split}.txt",
            "catalog_entry_hash": "fixture",
        },
    }


def _example(rng: random.Random, task: str, n: int) -> tuple[str, list[dict[str, str]], Any]:
    d, g = rng.choice(DISEASES), rng.choice(DRUGS)
    zd, zg = rng.choice(ZH_DISEASES), rng.choice(ZH_DRUGS)
    if task == "ner":
        text = f"Patients with {d} received {g} daily for {rng.randint(2, 9)} weeks."
        filler = " ".join(rng.choice(DISEASES + DRUGS) for _ in range(rng.randint(0, 40)))
        msgs = [
            {
                "role": "user",
                "content": f"Find the disease and drug entities.\n{text} {filler}\nLabels: disease, drug",
            },
            {"role": "assistant", "content": f"disease: {d}\ndrug: {g}"},
        ]
        return "en", msgs, [[d, "disease"], [g, "drug"]]
    if task == "re":
        msgs = [
            {"role": "system", "content": "You are a biomedical assistant."},
            {
                "role": "user",
                "content": f"Which relation holds between {g} and {d}? Options: treats, causes, none",
            },
            {"role": "assistant", "content": f"{g} treats {d}"},
        ]
        return "en", msgs, [[g, "treats", d]]
    if task == "tc":
        msgs = [
            {"role": "user", "content": f"对下面的句子分类：{zd}患者服用{zg}。类型选项：治疗，诊断"},
            {"role": "assistant", "content": "治疗"},
        ]
        return "zh", msgs, "治疗"
    if task == "mt":
        msgs = [
            {"role": "user", "content": f"Translate into Chinese: {d} is treated with {g}."},
            {"role": "assistant", "content": f"{zd}用{zg}治疗。"},
        ]
        return "zh", msgs, f"{zd}用{zg}治疗。"
    if task == "qa":
        t = rng.choice(TOPICS)
        msgs = [
            {"role": "user", "content": f"What is the usual {t} approach for {d}? Answer briefly."},
            {"role": "assistant", "content": f"The usual {t} for {d} involves {g} and follow-up."},
        ]
        return "en", msgs, f"{g}"
    assert task == "dialogue"
    msgs = []
    for turn in range(rng.randint(2, 4)):
        msgs.append({"role": "user", "content": f"医生您好，我有{zd}，第{turn + 1}个问题：能吃{zg}吗？"})
        msgs.append({"role": "assistant", "content": f"您好，{zd}患者可以在医生指导下服用{zg}，注意复查。"})
    return "zh", msgs, None


def write_stage(folder: Path, stage: str, records: list[dict], rows_per_shard: int) -> dict:
    """Write records as parquet shards plus a manifest.json in the build contract; return the manifest."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    msg_type = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    prov_type = pa.struct(
        [(k, pa.string()) for k in ("document_id", "example_id", "source_file", "catalog_entry_hash")]
    )
    schema = pa.schema(
        [
            (k, pa.string())
            for k in (
                "id",
                "dataset",
                "split",
                "task",
                "subtask",
                "source_lang",
                "prompt_lang",
                "template_id",
            )
        ]
        + [
            ("messages", msg_type),
            ("answer_format", pa.string()),
            ("gold", pa.string()),
            ("provenance", prov_type),
        ]
    )
    shards = []
    by_split: dict[str, list[dict]] = {}
    for r in sorted(records, key=lambda r: r["id"]):
        by_split.setdefault(r["split"], []).append(r)
    for split, recs in sorted(by_split.items()):
        chunks = [recs[i : i + rows_per_shard] for i in range(0, len(recs), rows_per_shard)]
        for k, chunk in enumerate(chunks):
            name = f"{split}-{k:05d}-of-{len(chunks):05d}.parquet"
            pq.write_table(pa.Table.from_pylist(chunk, schema=schema), folder / name)
            sha = hashlib.sha256((folder / name).read_bytes()).hexdigest()
            shards.append({"path": name, "split": split, "rows": len(chunk), "sha256": sha})
    counts: dict[str, int] = {}
    for r in records:
        counts[r["task"]] = counts.get(r["task"], 0) + 1
    manifest = {"stage": stage, "seed": 0, "config_hash": "fixture", "shards": shards, "counts": counts}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    return manifest


def write_fixture_build(
    out_dir: Path, n_stage1: int = 240, n_stage2_extra: int = 120, n_eval: int = 12
) -> Path:
    """A deterministic build: stage1 (ner/re/tc/mt), stage2 (+ qa, multi-turn dialogue), eval (test)."""
    rng = random.Random(0)
    out_dir = Path(out_dir)

    def make(task: str, split: str, i: int) -> dict:
        lang, msgs, gold = _example(rng, task, i)
        rid = hashlib.sha256(f"{task}|{split}|{i}".encode()).hexdigest()[:16]
        return _record(rid, f"fixture_{task}", split, task, lang, msgs, gold)

    stage1_tasks = ["ner", "re", "tc", "mt"]
    stage1 = [make(stage1_tasks[i % 4], "train", i) for i in range(n_stage1)]
    extra = [make(["qa", "dialogue"][i % 2], "train", n_stage1 + i) for i in range(n_stage2_extra)]
    write_stage(out_dir / "stage1", "stage1", stage1, rows_per_shard=100)
    write_stage(out_dir / "stage2", "stage2", stage1 + extra, rows_per_shard=100)
    evals = [make(["ner", "qa", "tc"][i % 3], "test", 10_000 + i) for i in range(n_eval)]
    write_stage(out_dir / "eval", "eval", evals, rows_per_shard=100)
    return out_dir


def build_texts(build_dir: Path) -> list[str]:
    """All message contents of a build, to train a test tokenizer on."""
    import pyarrow.parquet as pq

    texts = []
    for p in sorted(Path(build_dir).glob("*/*.parquet")):
        for msgs in pq.read_table(p, columns=["messages"]).column("messages").to_pylist():
            texts.extend(m["content"] for m in msgs)
    return texts
