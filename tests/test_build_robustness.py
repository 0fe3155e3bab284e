"""Builds that survive faults and stay clean: killed actors, interrupted runs, leaks, duplicates, scripts."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from net_util import command_line, descendants, is_loopback, listeners

from curate.build import run_build

pytestmark = [pytest.mark.ray, pytest.mark.timeout(400)]


def fingerprint(out: Path) -> tuple[bytes, dict[str, str]]:
    manifest = (out / "manifest.json").read_bytes()
    return manifest, {s["path"]: s["sha256"] for s in json.loads(manifest)["shards"]}


def every_file(out: Path) -> dict[str, str]:
    """sha256 of every output file (shards, manifests, rejects, reports), the scratch folder and lock aside."""
    import hashlib

    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*"))
            if p.is_file() and ".work" not in p.relative_to(out).parts and p.name != ".lock"}


@pytest.fixture(scope="module")
def reference_dir(ray_local, repo, tmp_path_factory) -> Path:
    return run_build(repo / "catalog.yaml", tmp_path_factory.mktemp("ref") / "out", workers=2,
                     progress=False).out_dir


@pytest.fixture(scope="module")
def reference(reference_dir):
    return fingerprint(reference_dir)


@pytest.mark.parametrize("workers", [1, 4])
def test_identical_manifest_with_any_worker_count(reference, repo, tmp_path, workers):
    out = run_build(repo / "catalog.yaml", tmp_path / "out", workers=workers, progress=False).out_dir
    assert fingerprint(out) == reference


def test_killed_actor_is_retried_and_build_ends_identical(reference, repo, tmp_path, monkeypatch):
    marker = tmp_path / "killed"
    monkeypatch.setenv("CURATE_FAULT_MARKER", str(marker))
    out = run_build(repo / "catalog.yaml", tmp_path / "out", workers=2, progress=False).out_dir
    assert marker.exists(), "the fault was never injected"
    assert int(marker.read_text()) != os.getpid()  # an actor process died, not the driver
    assert fingerprint(out) == reference


@pytest.mark.parametrize("point", ["extract:2", "set_eval_index", "train_extract:1", "train_extract:2", "render:1",
                                   "render:3", "write:3"])
def test_actor_killed_at_any_point_restores_its_state(reference_dir, repo, tmp_path, monkeypatch, point):
    """Before (an evaluation unit), during (receiving the index) and after the evaluation index is sent (a
    training unit, phase 2): the restarted actor must fetch the index again, or decontamination is off. A
    worker killed in the write step: its task runs again and every shard ends identical."""
    marker = tmp_path / "killed"
    monkeypatch.setenv("CURATE_FAULT_MARKER", str(marker))
    monkeypatch.setenv("CURATE_FAULT_POINT", point)
    out = run_build(repo / "catalog.yaml", tmp_path / "out", workers=2, progress=False).out_dir
    assert marker.exists(), f"the fault at {point} was never injected"
    assert every_file(out) == every_file(reference_dir)


def test_interrupted_build_resumes_and_ends_identical(reference, repo, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "curate", "build", "--catalog", str(repo / "catalog.yaml"), "--out", str(out),
           "--workers", "2", "--no-progress"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((out / ".work/phase1").rglob("*.json"))) < 3:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver, its embedded Ray and the actors, mid-build
    proc.wait()
    assert list((out / ".work/phase1").rglob("*.json")), "nothing finished before the kill"
    result = run_build(repo / "catalog.yaml", out, workers=2, progress=False)
    assert result.resumed["phase1"] >= 1
    assert fingerprint(out) == reference


def _tiny_catalog(repo: Path, tmp: Path, datasets: str, output: str = "") -> Path:
    path = tmp / "catalog.yaml"
    path.write_text(f"templates: {repo / 'instruction_templates'}\n{output}\nstages: [{{name: all}}]\n"
                    f"datasets:\n{datasets}", encoding="utf-8")
    return path


def test_planted_leak_and_duplicates_are_caught_and_counted(ray_local, repo, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    leak = ("Carbamazepine therapy was associated with a severe cutaneous reaction in three elderly patients "
            "treated for trigeminal neuralgia at our clinic")
    test_rows = [{"id": "t1", "text": leak, "label": "adverse"}]
    train_rows = [{"id": "a", "text": "Prefix sentence here. " + leak, "label": "adverse"},  # leaked test input
                  {"id": "b", "text": "Metformin lowered glucose in every arm of the trial", "label": "benefit"},
                  {"id": "c", "text": "Metformin lowered glucose in every arm of the trial", "label": "benefit"}]
    other_rows = [{"id": "z", "text": "Metformin lowered glucose in every arm of the trial", "label": "benefit"}]
    for name, rows in (("train", train_rows), ("test", test_rows), ("other", other_rows)):
        (data / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    entry = """  - name: {name}
    language: en
    tasks: [tc]
    format: tabular
    options: {{kind: tc, id_field: id, fields: {{text: text, labels: label}}}}
    files: {files}
    eval_splits: {evals}
    labels: {{adverse: {{en: adverse effect, zh: 不良反应}}, benefit: {{en: benefit, zh: 获益}}}}
"""
    datasets = (entry.format(name="effects", files="{train: data/train.jsonl, test: data/test.jsonl}",
                             evals="[test]")
                + entry.format(name="effects_copy", files="{train: data/other.jsonl}", evals="[]"))
    # one template only, so identical inputs render identical prompts and are true duplicates
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "tc.yaml").write_text(
        "task: tc\ntemplates:\n  - id: tc-only\n    lists_labels: true\n"
        "    en: 'Classify: {{ text }} Options: {{ label_options | join(\", \") }}'\n"
        "    zh: '分类：{{ text }} 选项：{{ label_options | join(\"，\") }}'\n", encoding="utf-8")
    catalog = _tiny_catalog(repo, tmp_path, datasets, "output: {ngram: 8}").read_text()
    catalog = catalog.replace(f"templates: {repo / 'instruction_templates'}", f"templates: {templates}")
    (tmp_path / "catalog.yaml").write_text(catalog, encoding="utf-8")
    result = run_build(tmp_path / "catalog.yaml", tmp_path / "out", workers=2, progress=False)
    rows = {r["dataset"]: r for r in json.loads((result.out_dir / "all/manifest.json").read_text())["counts"][
        "by_dataset"]}
    assert rows["effects"]["decontaminated"] == 1
    # b and c are identical, and z in another dataset too: two of the three copies go, counted where they were
    assert rows["effects"]["deduplicated"] + rows["effects_copy"]["deduplicated"] == 2
    assert rows["effects"]["written"] + rows["effects_copy"]["written"] == 1
    report = json.loads((result.out_dir / "contamination.json").read_text())
    assert report["by_training_dataset"]["effects"]["matched_eval_sets"] == {"effects/test": 1}
    assert report["by_training_dataset"]["effects"]["documents"] == ["train/a"]


def test_traditional_chinese_ner_comes_out_simplified_with_offsets_aligned(ray_local, repo, tmp_path):
    from schemas.documents import IEDocument

    data = tmp_path / "data"
    data.mkdir()
    text = "患者長期使用電腦記憶體後出現頭痛與發熱，診斷為偏頭痛。"
    ents = [("頭痛", "sym"), ("發熱", "sym"), ("偏頭痛", "dis"), ("電腦記憶體", "equ")]
    entities = []
    for mention, etype in ents:
        start = text.index(mention) if mention != "頭痛" else text.index("頭痛與")
        entities.append({"start_idx": start, "end_idx": start + len(mention), "type": etype, "entity": mention})
    (data / "tw.json").write_text(json.dumps([{"text": text, "entities": entities}], ensure_ascii=False),
                                  encoding="utf-8")
    datasets = """  - name: tw_ner
    language: zh
    tasks: [ner]
    format: cmeee
    opencc_config: tw2sp
    files: {train: data/tw.json}
    labels: {sym: {en: symptom, zh: 症状}, dis: {en: disease, zh: 疾病}, equ: {en: equipment, zh: 设备}}
"""
    result = run_build(_tiny_catalog(repo, tmp_path, datasets), tmp_path / "out", workers=1, progress=False)
    import pyarrow.parquet as pq

    (row,) = [r for s in result.manifest["shards"] for r in pq.read_table(result.out_dir / s["path"]).to_pylist()
              if r["subtask"] == "all_types"]
    gold = json.loads(row["gold"])
    assert "患者长期使用电脑内存后出现头痛与发热，诊断为偏头痛。" in row["messages"][-2]["content"]  # tw2sp: new length
    assert sorted(m for _, m in gold) == sorted(["头痛", "发热", "偏头痛", "电脑内存"])
    from curate.catalog import load_catalog
    from curate.normalize import normalize_document
    from curate.readers import ReadContext, get_reader

    entry = load_catalog(tmp_path / "catalog.yaml").dataset("tw_ner")
    ctx = ReadContext("tw_ner", "train", "tw.json")
    (doc,) = list(get_reader("cmeee").read(str(data / "tw.json"), ctx))
    simplified = normalize_document(doc, entry, ctx)
    assert isinstance(simplified, IEDocument)
    for entity in simplified.entities:
        (start, end), = entity.offsets
        assert simplified.text[start:end] == entity.text[0]
    shards = [result.out_dir / s["path"] for s in result.manifest["shards"]]
    content = "".join(m["content"] for p in shards for r in pq.read_table(p).to_pylist() for m in r["messages"])
    assert "頭" not in content and "記憶體" not in content and "头痛" in content


def test_embedded_ray_listens_on_loopback_only(repo, tmp_path):
    """Every TCP listener of the build and of the Ray it starts, sampled throughout a build, is on 127.0.0.0/8."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
    cmd = [sys.executable, "-m", "curate", "build", "--catalog", str(repo / "catalog.yaml"), "--out",
           str(tmp_path / "out"), "--workers", "2", "--no-progress"]
    log = tmp_path / "stderr.log"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    seen: set[tuple[str, str]] = set()
    try:
        while proc.poll() is None:
            seen.update(listeners(descendants(proc.pid)))
            time.sleep(0.3)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.wait() == 0, log.read_text(errors="replace")[-2000:]
    names = {name for _, name in seen}
    assert {"gcs_server", "raylet"} <= names, seen  # the sampling saw Ray's services
    assert [s for s in seen if not is_loopback(s[0])] == []


def _build_workers(pid: int) -> list[int]:
    """The build's Ray actor processes (``ray::BuildWorker``) under a driver."""
    return sorted(p for p in descendants(pid) if command_line(p).startswith("ray::BuildWorker"))


def test_sigkill_at_seeded_random_moments_then_rerun_ends_identical(reference_dir, repo, tmp_path):
    """Three builds into one folder, each SIGKILLed at a seeded random moment of its work: the driver with its
    whole Ray, or one worker (the build must then finish by itself). A last plain run must give every output
    file of an uninterrupted build, byte for byte.

    The moment is counted from when the build's workers exist, not from the start of the command: Ray's
    start-up takes 2-4 s here, longer under load, and delays counted from the start either fell before any
    worker existed or after a fast build had finished ("no kill landed")."""
    import random

    rng = random.Random(12)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "curate", "build", "--catalog", str(repo / "catalog.yaml"), "--out", str(out),
           "--workers", "2", "--no-progress"]
    kinds = []
    for _ in range(3):
        victim = rng.choice(["driver", "worker"])
        delay = rng.uniform(0.0, 1.5)
        log = tmp_path / "stderr.log"
        proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
        began = time.monotonic()
        while proc.poll() is None and not _build_workers(proc.pid) and time.monotonic() - began < 60:
            time.sleep(0.05)
        began = time.monotonic()
        while proc.poll() is None and time.monotonic() - began < delay:
            time.sleep(0.05)
        if proc.poll() is None and victim == "driver":
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            kinds.append("driver")
            continue
        workers = _build_workers(proc.pid) if proc.poll() is None else []
        if workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(rng.choice(workers), signal.SIGKILL)
            kinds.append("worker")
        try:
            assert proc.wait(timeout=120) == 0, log.read_text(errors="replace")[-2000:]
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        assert every_file(out) == every_file(reference_dir)  # a worker's death changes nothing
    assert kinds, "no kill landed"
    final = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert final.returncode == 0, final.stderr[-2000:]
    assert every_file(out) == every_file(reference_dir)
