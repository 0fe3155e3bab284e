"""The build's steps without Ray: the write step's merge, dedup and shards on synthetic intermediate files, the
select step's render units; and BuildDir on the session's demo build."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.build import intermediate
from curate.build.partitions import OutputSources
from curate.build.plan import EVAL_OUTPUT, EarlyRender
from curate.build.record import WORK_SCHEMA
from curate.build.select import RenderUnit, plan_render_units, plan_selection
from curate.build.write import WrittenOutput, write_output
from curate.build_dir import BuildDir
from curate.catalog import load_catalog
from curate.errors import CurateError

REPO = Path(__file__).resolve().parent.parent


def _record(dataset: str, split: str, order_key: int, dedup_key: int, task: str = "ner") -> dict[str, Any]:
    rid = f"{order_key:016x}{'0' * 8}"
    return {"id": rid, "dataset": dataset, "split": split, "task": task, "subtask": "", "source_lang": "en",
            "prompt_lang": "en", "template_id": "t", "messages": [{"role": "user", "content": rid},
                                                                   {"role": "assistant", "content": "a"}],
            "answer_format": "json", "gold": "{}", "provenance": {"document_id": "d", "example_id": rid,
                                                                  "source_file": "f", "catalog_entry_hash": "h"},
            "answer_fields": "", "order_key": order_key, "dedup_key": dedup_key}


def _work_file(path: Path, rows: list[dict[str, Any]], batch_rows: int = 3) -> str:
    with intermediate.writer(path, WORK_SCHEMA) as writer:
        writer.write_table(pa.Table.from_pylist(rows, schema=WORK_SCHEMA), max_chunksize=batch_rows)
    return str(path)


class _Here:
    """The executor's interface, running each task in this process (what InProcessExecutor does), with the
    results in reverse order: Ray's pool returns them as they finish, so no step may rely on their order."""

    def map(self, method: str, tasks: list[Any], on_done: Any) -> list[Any]:
        assert method == "write_step"
        return [task.run() for task in tasks][::-1]


def _write(tmp: Path, name: str, sources: list[tuple[str, None]], rows_per_shard: int, partitions: int = 1,
           dedup: bool = True) -> WrittenOutput:
    spec = OutputSources(name, tuple(sorted(sources)), dedup, partitions, str(tmp / f"work-{name}"))
    return write_output(_Here(), spec, tmp / name, rows_per_shard)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_merge_orders_by_key_keeps_the_first_duplicate_and_counts_removals(tmp_path: Path) -> None:
    # dedup key 7 appears three times: the copy of smallest order key (5, in the second file) stays
    a = [_record("a", "train", k, d) for k, d in [(40, 1), (10, 7), (30, 2), (90, 7)]]
    b = [_record("b", "train", k, d) for k, d in [(5, 7), (60, 3), (20, 4)]]
    sources = [(_work_file(tmp_path / "a.arrow", a), None), (_work_file(tmp_path / "b.arrow", b), None)]
    merged = _write(tmp_path, "out", sources, rows_per_shard=2)
    shards = merged.shards
    rows = [r for s in shards for r in pq.read_table(tmp_path / "out" / s["path"]).to_pylist()]
    assert [int(r["id"][:16], 16) for r in rows] == [5, 20, 30, 40, 60]
    assert merged.removed == {"a": 2}
    assert merged.written == {("a", "ner", "en"): 2, ("b", "ner", "en"): 3}
    assert [(s["path"], s["rows"]) for s in shards] == [("train-00000-of-00003.parquet", 2),
                                                       ("train-00001-of-00003.parquet", 2),
                                                       ("train-00002-of-00003.parquet", 1)]
    kept = _write(tmp_path, "kept", sources, rows_per_shard=100, dedup=False)
    assert kept.shards[0]["rows"] == 7 and not kept.removed


def test_shard_bytes_do_not_depend_on_how_rows_are_spread_over_files(tmp_path: Path) -> None:
    """What units and batches the rows come in (more workers, other file sizes) changes no byte of a shard;
    splits get their own shards. (A work file is one unit: one dataset and one split.)"""
    rng = np.random.default_rng(0)
    keys = rng.choice(2**40, size=60, replace=False)
    rows = {split: [_record("a", split, int(k), int(k) % 50) for k in keys[i::2]]
            for i, split in enumerate(["train", "test"])}
    one = [(_work_file(tmp_path / f"{split}.arrow", r, batch_rows=60), None) for split, r in rows.items()]
    parts = [(_work_file(tmp_path / f"{split}{i}.arrow", r[i::3], batch_rows=2), None)
             for split, r in rows.items() for i in range(3)]
    first = _write(tmp_path, "one", one, rows_per_shard=7).shards
    second = _write(tmp_path, "four", parts, rows_per_shard=7, partitions=4).shards
    assert first == second and {s["split"] for s in first} == {"train", "test"}
    for shard in first:
        assert _sha(tmp_path / "one" / shard["path"]) == _sha(tmp_path / "four" / shard["path"]) == shard["sha256"]


def test_select_plans_one_render_unit_per_file_and_output(repo: Path) -> None:
    catalog = load_catalog(repo / "catalog.yaml")
    used = [e for e in catalog.datasets if e.has_files]
    entry = used[0]
    train = [f"/w/{entry.name}/train.arrow"]
    test = [f"/w/{entry.name}/test.arrow"]
    files_of = {(entry.name, "train"): train, (entry.name, "test"): test}
    task = entry.tasks[0]
    ranks = {(entry.name, task): np.arange(10, dtype=np.uint64) * 1000}
    early_of: dict[str, EarlyRender | None] = {train[0]: None, test[0]: None}
    plans, mixtures = plan_render_units(catalog.stages, [entry], {(entry.name, task, entry.language): 10}, ranks,
                                        files_of, early_of, {train[0]: "k1", test[0]: "k2"}, "common")
    outputs = sorted(p.output for p in plans)
    assert outputs == sorted([s.name for s in catalog.stages if s.uses(entry.name, task)] + [EVAL_OUTPUT])
    evaluation = next(p for p in plans if p.output == EVAL_OUTPUT)
    assert evaluation.selections is None and evaluation.example_file == test[0]
    for plan in plans:
        if plan.output != EVAL_OUTPUT:
            quota = mixtures[plan.output][(entry.name, task, entry.language)].quota
            assert plan.selections is not None
            assert plan.selections[task] == plan_selection(ranks[(entry.name, task)], quota)
    # the cache key moves with what the records depend on
    again, _ = plan_render_units(catalog.stages, [entry], {(entry.name, task, entry.language): 10}, ranks,
                                 files_of, early_of, {train[0]: "k1*", test[0]: "k2"}, "common")
    keys = {(p.output, p.example_file): p.cache_key for p in plans}
    moved = {(p.output, p.example_file) for p in again if p.cache_key != keys[(p.output, p.example_file)]}
    assert moved == {(p.output, p.example_file) for p in plans if p.example_file == train[0]}
    assert all(isinstance(p, RenderUnit) for p in plans)


def test_build_dir_reads_every_output_and_names_what_is_missing(demo_build: Any, tmp_path: Path) -> None:
    """BuildDir, the one reader of a finished build, finds every output and every listed row; a missing output
    or folder is an error that names the path."""
    build = BuildDir(demo_build.out_dir)
    assert build.outputs()[0] == EVAL_OUTPUT and set(build.outputs()) == set(demo_build.manifest["outputs"])
    for output in build.outputs():
        rows = sum(1 for _ in build.records(output, columns=["id"]))
        assert rows == build.rows(output) == demo_build.manifest["outputs"][output]["rows"]
    assert build.rows("stage1", ["train"]) == sum(1 for _ in build.records("stage1", ["train"], columns=["id"]))
    with pytest.raises(CurateError, match=r"stage9[/\\]manifest\.json not found.*'eval'"):
        build.output_manifest("stage9")
    with pytest.raises(CurateError, match=r"build directory .* not found"):
        BuildDir(tmp_path / "nothing").require()


def test_partitioned_write_gives_the_one_pass_bytes_for_any_partition_count(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Ordering, dedup and sharding in P key-range partitions: the rows of a single global pass (order key,
    ties in source order; the first copy of each duplicate stays) and the same shard bytes for P = 1, 3 and 8,
    with duplicates whose copies sit in other partitions, and partitions that gather their rows a few at a time."""
    monkeypatch.setattr("curate.build.partitions.ROWS_PER_BATCH", 5)
    rng = np.random.default_rng(1)
    keys = rng.integers(0, 2**64, size=300, dtype=np.uint64)
    keys[10:14] = keys[3]  # tied order keys (a document twice in a split)
    sources, everything = [], []
    for index in range(6):
        split = ("train", "test")[index % 2]
        rows = [_record(f"d{index % 3}", split, int(k), int(rng.integers(0, 40)), task=("ner", "re")[int(k) % 2])
                for k in keys[index::6]]
        path = _work_file(tmp_path / f"s{index}.arrow", rows, batch_rows=7)
        sources.append((path, None))
        everything += [(r["order_key"], path, n, r) for n, r in enumerate(rows)]
    everything.sort(key=lambda x: x[:3])  # the one-pass order: key, then source file and row
    seen: set[int] = set()
    expected: dict[str, list[str]] = {}
    for *_, row in everything:
        if row["dedup_key"] not in seen:
            seen.add(row["dedup_key"])
            expected.setdefault(row["split"], []).append(row["id"])
    results = [_write(tmp_path, f"p{p}", sources, rows_per_shard=9, partitions=p) for p in (1, 3, 8)]
    assert results[0].shards == results[1].shards == results[2].shards
    assert results[0].written == results[1].written == results[2].written
    assert results[0].removed == results[1].removed == results[2].removed
    assert sum(results[0].removed.values()) == 300 - sum(len(ids) for ids in expected.values()) > 0
    for split, ids in expected.items():
        shards = [s for s in results[0].shards if s["split"] == split]
        assert len(shards) == -(-len(ids) // 9)
        got = [i for s in shards for i in pq.read_table(tmp_path / "p1" / s["path"]).column("id").to_pylist()]
        assert got == ids, split


# the flow, earliest first: a module may import modules of its own rank or earlier ones, never a later one
STEP_ORDER = [{"plan"}, {"document_windows", "record", "summaries", "intermediate"}, {"early"}, {"extract"},
              {"clean", "collisions", "ranks"}, {"select"}, {"render"}, {"partitions"}, {"write"}, {"report"},
              {"executor"}, {"run"}]


def test_no_build_module_imports_a_later_step(repo: Path) -> None:
    import ast

    rank = {name: i for i, names in enumerate(STEP_ORDER) for name in names}
    modules = {p.stem for p in (repo / "curate/build").glob("*.py") if p.stem != "__init__"}
    assert modules == set(rank), "a new module of curate/build needs its place in STEP_ORDER"
    for name in modules:
        tree = ast.parse((repo / "curate/build" / f"{name}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            imported = []
            if isinstance(node, ast.ImportFrom) and node.module == "curate.build":
                imported = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("curate.build."):
                imported = [node.module.split(".")[2]]  # type: ignore[union-attr]
            for other in imported:
                assert rank[other] <= rank[name], f"curate/build/{name}.py imports a later step: {other}"
        assert len((repo / "curate/build" / f"{name}.py").read_text(encoding="utf-8").splitlines()) <= 330, name


def test_colliding_ids_need_no_perfect_hash(tmp_path: Path) -> None:
    # the driver finds ids shared by files of a split from 64-bit hashes, then compares strings: a poor
    # hash (every id alike, or two buckets) finds exactly what Python's does; windows count as their document
    from curate.build.collisions import colliding_ids
    from curate.build.extract import example_file
    from curate.build.plan import ExtractUnit

    files = {"a.jsonl": ["1", "2", "3#w0", "3#w1"], "b.jsonl": ["2", "3", "4"], "c.jsonl": ["1", "4", "5"],
             "d.jsonl": ["6"]}
    units = [ExtractUnit("ds", "test", f"/data/{name}", name) for name in files]
    units.append(ExtractUnit("other", "test", "/data/e.jsonl", "e.jsonl"))
    for unit in units:
        path = example_file(tmp_path, unit)
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.table({"document_id": files.get(unit.display_file, ["1", "2"])})
        with intermediate.writer(path, table.schema) as out:
            out.write_table(table)
    expected = {units[1].key: (frozenset({"2", "3"}), "b"), units[2].key: (frozenset({"1", "4"}), "c")}
    for hash_of in (hash, lambda _: 7, lambda text: len(text) % 2):
        assert colliding_ids(units, tmp_path, hash_of) == expected


def test_colliding_ids_in_several_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a split with more ids than the driver holds at once is checked in passes over hash residues
    from curate.build import collisions

    test_colliding_ids_need_no_perfect_hash(tmp_path / "one")
    monkeypatch.setattr(collisions, "IDS_PER_PASS", 2)
    test_colliding_ids_need_no_perfect_hash(tmp_path / "many")


def test_files_are_named_as_the_catalog_lists_them_and_globs_relative_to_it(tmp_path: Path) -> None:
    # a file after a glob in a split's list used to take the next pattern's name (files and patterns were
    # paired by position), and glob matches were named by absolute path
    from curate.build.plan import plan_units
    from curate.catalog import load_catalog

    data = tmp_path / "corpus" / "data"
    data.mkdir(parents=True)
    for name in ("p1.txt", "p2.txt", "z.txt"):
        (data / name).write_text("1|t|Aspirin helps.\n1\t0\t7\tAspirin\tChemical\tD1\n\n")
    catalog = tmp_path / "corpus" / "catalog.yaml"
    catalog.write_text(
        f"templates: {REPO / 'instruction_templates'}\n"
        "datasets:\n"
        "  - {name: docs, language: en, tasks: [ner], format: pubtator,\n"
        "     labels: {Chemical: {en: chemical, zh: 化学物质}},\n"
        "     files: {train: [data/p*.txt, data/z.txt, " + str(data / "z.txt") + "]}}\n",
        encoding="utf-8",
    )
    units, _ = plan_units(load_catalog(catalog), [])
    named = sorted((u.position, u.display_file) for u in units)
    assert named == [(0, "data/p1.txt"), (1, "data/p2.txt"), (2, "data/z.txt"), (3, str(data / "z.txt"))]
