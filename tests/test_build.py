"""The demo build on a real local Ray: shards, manifest, rejects, reconciled counts, determinism."""

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from curate.build import run_build

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]


def shard_hashes(out: Path) -> dict[str, str]:
    manifest = json.loads((out / "manifest.json").read_text())
    return {s["path"]: s["sha256"] for s in manifest["shards"]}


def output_hashes(out: Path) -> dict[str, str]:
    """sha256 of every file a build leaves (manifests, rejects, reports), not its work folder or lock."""
    import hashlib

    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*"))
            if p.is_file() and ".work" not in p.relative_to(out).parts and p.name != ".lock"}


def test_manifest_has_every_task_in_both_languages(demo_build):
    stage2 = json.loads((demo_build.out_dir / "stage2/manifest.json").read_text())
    by = stage2["counts"]["by_task_language"]
    for task in ("ner", "re", "tc", "qa"):
        for lang in ("en", "zh"):
            assert by.get(f"{task}.{lang}", 0) > 0, (task, lang, by)
    stage1 = json.loads((demo_build.out_dir / "stage1/manifest.json").read_text())
    assert not any(k.startswith(("qa.", "dialogue.")) for k in stage1["counts"]["by_task_language"])
    for shard in stage2["shards"]:
        path = demo_build.out_dir / "stage2" / shard["path"]
        assert pq.read_metadata(path).num_rows == shard["rows"]


def test_shards_load_with_hf_datasets(demo_build, tmp_path):
    import datasets

    manifest = demo_build.manifest
    files = [str(demo_build.out_dir / s["path"]) for s in manifest["shards"]]
    loaded = datasets.load_dataset("parquet", data_files=files, split="train", cache_dir=str(tmp_path / "hf"))
    assert len(loaded) == sum(s["rows"] for s in manifest["shards"])
    row = loaded[0]
    assert [m["role"] for m in row["messages"]][-1] == "assistant"
    assert row["provenance"]["catalog_entry_hash"]


def test_counts_reconcile(demo_build):
    mixture = json.loads((demo_build.out_dir / "mixture.json").read_text())
    for output in ("stage1", "stage2", "eval"):
        manifest = json.loads((demo_build.out_dir / output / "manifest.json").read_text())
        quoted = {(q["dataset"], q["task"], q["language"]) for q in mixture.get(output, [])}
        written = 0
        for row in manifest["counts"]["by_dataset"]:
            assert row["examples"] + row["upsampled"] == (row["written"] + row["deduplicated"] + row[
                "decontaminated"] + row["excluded"] + row["sampled_out"] + row["rejected"]), row
            # what a stage's mixture has no quota for is excluded by design, never counted as sampled out
            if output in mixture and (row["dataset"], row["task"], row["language"]) not in quoted:
                assert row["sampled_out"] == row["written"] == 0 and row["excluded"] > 0, row
            else:
                assert row["excluded"] == 0, row
            written += row["written"]
        assert written == manifest["rows"] == sum(s["rows"] for s in manifest["shards"])
    stage1 = json.loads((demo_build.out_dir / "stage1" / "manifest.json").read_text())["counts"]["by_dataset"]
    assert any(r["excluded"] for r in stage1)  # the demo's stage 1 takes no QA
    for dataset, splits in demo_build.manifest["sources"].items():
        for split, c in splits.items():
            assert c["read"] == c["documents"] + c["rejected"], (dataset, split)


def test_same_seed_same_bytes_any_worker_count(demo_build, ray_local, repo, tmp_path):
    again = run_build(repo / "catalog.yaml", tmp_path / "w1", workers=1, progress=False)
    assert shard_hashes(again.out_dir) == shard_hashes(demo_build.out_dir)
    assert (again.out_dir / "manifest.json").read_bytes() == (demo_build.out_dir / "manifest.json").read_bytes()
    # the in-process executor (no Ray) runs the same steps: the same bytes
    alone = run_build(repo / "catalog.yaml", tmp_path / "alone", in_process=True, progress=False)
    assert output_hashes(alone.out_dir) == output_hashes(demo_build.out_dir)
    other = run_build(repo / "catalog.yaml", tmp_path / "s1", seed=1, in_process=True, progress=False)
    assert shard_hashes(other.out_dir) != shard_hashes(demo_build.out_dir)


def test_bad_records_go_to_rejects_and_build_goes_on(ray_local, repo, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "good.pubtator").write_text("1|t|Aspirin helps.\n1\t0\t7\tAspirin\tChemical\tD1\n\n", encoding="utf-8")
    (data / "bad.jsonl").write_text('{"q": "ok?", "a": "yes"}\n{"q": "broken\n{"q": "odd?", "a": "perhaps"}\n',
                                    encoding="utf-8")
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(f"""
templates: {repo / 'instruction_templates'}
stages: [{{name: all}}]
datasets:
  - {{name: good, language: en, tasks: [ner], format: pubtator, files: {{train: data/good.pubtator}},
      labels: {{Chemical: {{en: chemical, zh: 化学物质}}}}}}
  - name: shaky
    language: en
    tasks: [qa]
    format: tabular
    options: {{kind: qa, qa_type: yesno, fields: {{question: q, answer: a}}}}
    files: {{train: data/bad.jsonl}}
  - {{name: listed, language: zh, tasks: [tc], tags: [taiyi]}}
""", encoding="utf-8")
    result = run_build(catalog, tmp_path / "out", workers=2, progress=False)
    rejects = [json.loads(line) for line in (result.out_dir / "rejects/shaky.jsonl").read_text().splitlines()]
    assert [(r["line"], r["file"], r["dataset"]) for r in rejects] == [(2, "data/bad.jsonl", "shaky"),
                                                                       (3, "data/bad.jsonl", "shaky")]
    assert "invalid JSON" in rejects[0]["reason"] and "yes, no or maybe" in rejects[1]["reason"]
    assert result.manifest["rejected"]["shaky"] == 2
    assert result.manifest["sources"]["shaky"]["train"] == {**result.manifest["sources"]["shaky"]["train"],
                                                            "read": 3, "documents": 1, "rejected": 2}
    assert any("listed" in n and "skipped" in n for n in result.notices)
    assert result.manifest["outputs"]["all"]["rows"] >= 2


def test_rerun_resumes_from_finished_units(repo, tmp_path):
    first = run_build(repo / "catalog.yaml", tmp_path / "out", in_process=True, progress=False)
    before = shard_hashes(first.out_dir)
    # drop the finished outputs but keep phase-1 work: the rerun reuses it and ends identical
    for output in ("stage1", "stage2", "eval"):
        shutil.rmtree(first.out_dir / output)
    second = run_build(repo / "catalog.yaml", tmp_path / "out", in_process=True, progress=False)
    assert shard_hashes(second.out_dir) == before
    assert second.resumed["phase1"] == len(summaries := list((first.out_dir / ".work/phase1").rglob("*.json")))
    assert summaries and all(json.loads(p.read_text())["cache_key"] for p in summaries)


def _demo_variant(repo: Path, tmp: Path, early: bool) -> Path:
    """The demo datasets under stages that sample down hard, upsample, and render some prompts cross-lingually."""
    import yaml

    demo = yaml.safe_load((repo / "catalog.yaml").read_text(encoding="utf-8"))
    for entry in demo["datasets"]:
        entry["files"] = {split: str((repo / f).resolve()) for split, f in entry["files"].items()}
    catalog = {
        "templates": str(repo / "instruction_templates"), "seed": 3,
        "output": {"rows_per_shard": 50, "early_render": early},
        # phase 1 renders with the first stage's ratio: "sampled" takes its rows, "plain" renders in phase 2
        "stages": [{"name": "upsampled", "mixing": {"cap": 40, "upsample": True, "cross_lingual_ratio": 0.3,
                                                    "language_shares": {"en": 0.5, "zh": 0.5}}},
                   {"name": "sampled", "mixing": {"cap": 3, "cross_lingual_ratio": 0.3}},
                   {"name": "plain", "tasks": ["ner", "tc"], "mixing": {"cap": 5}}],
        "datasets": demo["datasets"],
    }
    path = tmp / f"early-{early}" / "catalog.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(catalog, allow_unicode=True), encoding="utf-8")
    return path


def test_rendering_early_changes_speed_not_bytes(repo, tmp_path):
    """Phase 1 renders first copies early (at most cap per task and file, plus those pushed out); phase 2
    then only filters them. The shards must be the bytes a build rendering everything in phase 2 writes."""
    late = run_build(_demo_variant(repo, tmp_path, False), tmp_path / "late", in_process=True, progress=False)
    early = run_build(_demo_variant(repo, tmp_path, True), tmp_path / "early", in_process=True, progress=False)
    assert shard_hashes(early.out_dir) == shard_hashes(late.out_dir)
    for output in ("sampled", "upsampled", "plain", "eval"):
        manifests = [json.loads((b.out_dir / output / "manifest.json").read_text()) for b in (early, late)]
        assert manifests[0].pop("config_hash") != manifests[1].pop("config_hash")  # early_render is a setting
        assert manifests[0] == manifests[1], output
        assert manifests[0]["rows"] > 0
    rendered = {}
    for path in (early.out_dir / ".work/phase1").rglob("*.json"):
        summary = json.loads(path.read_text())
        rendered[(summary["dataset"], summary["split"])] = (summary["rendered_early"], summary["examples"])
    assert rendered[("demo_cdr_en", "test")][0] == rendered[("demo_cdr_en", "test")][1] > 0  # eval: all
    train = [(n, total) for (_, split), (n, total) in rendered.items() if split == "train"]
    assert all(n <= total for n, total in train)
    assert sum(n for n, _ in train) < sum(total for _, total in train)  # the caps spared renders
    assert not any(json.loads(p.read_text())["rendered_early"] for p in (late.out_dir / ".work/phase1").rglob("*.json"))
