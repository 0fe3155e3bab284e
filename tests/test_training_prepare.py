"""Training rows prepared on Ray Data workers: equal to the in-memory path, independent of the worker count.

Real local Ray (2 CPUs, loopback), real parquet builds (the demo catalog built by ``run_build`` and the
synthetic training fixture), a byte-level BPE tokenizer trained in-process and saved as an HF directory.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from tests.training_fixtures import build_texts, write_fixture_build

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def fixture_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fixture_build(tmp_path_factory.mktemp("build") / "build")


@pytest.fixture(scope="module")
def demo_build(ray_local: Any, repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from curate.build import run_build

    return run_build(repo / "catalog.yaml", tmp_path_factory.mktemp("demo") / "out", workers=1, progress=False).out_dir


def tokenizer_dir(build: Path, folder: Path) -> Path:
    from curate.training.model import train_tokenizer

    if not (folder / "tokenizer_config.json").is_file():
        train_tokenizer(build_texts(build), 800).save_pretrained(str(folder))
    return folder


def rows_checksum(rows: Any) -> str:
    """sha256 over every row's tokens, labels, positions and example ids, in training order."""
    h = hashlib.sha256()
    for r in rows:
        h.update(repr((r.input_ids, r.labels, r.position_ids, r.example_ids)).encode())
    return h.hexdigest()


def streamed(prepared: Any) -> list[Any]:
    """Every prepared row in global order, read back the way a training rank reads its own."""
    from curate.training.prepare import RankRows

    rows = RankRows(
        lambda: prepared.dataset.iter_batches(batch_size=7, batch_format="pyarrow"),
        prepared.offsets,
        prepared.num_rows,
    )
    rows.keep_only(range(prepared.num_rows))
    return [rows[i] for i in range(len(rows))]


def prepare(tok: Path, build: Path, stage: str, packing: bool, window: int, workers: int) -> Any:
    from curate.training.prepare import prepare_stage_dataset

    return prepare_stage_dataset(tok, build, stage, 256, packing, window, workers, 0.5)


@pytest.mark.timeout(400)
@pytest.mark.parametrize("packing", [True, False])
def test_streamed_rows_equal_the_in_memory_rows_on_the_demo_build(
    demo_build: Path, tmp_path_factory: pytest.TempPathFactory, packing: bool
) -> None:
    from dataclasses import asdict

    from curate.training.data import packing_efficiency, prepare_stage_rows
    from curate.training.model import load_tokenizer

    tok = tokenizer_dir(demo_build, tmp_path_factory.mktemp("tok"))
    for stage in ("stage1", "stage2"):
        reference, ref_stats = prepare_stage_rows(load_tokenizer(tok), demo_build, stage, 256, packing)
        expected = rows_checksum(reference)
        for workers in (1, 2):
            prepared = prepare(tok, demo_build, stage, packing, 16_384, workers)
            assert prepared.windows == 1
            assert rows_checksum(streamed(prepared)) == expected, f"{stage}, {workers} worker(s)"
            assert asdict(prepared.stats) == asdict(ref_stats)
            assert prepared.efficiency(2, packing, 256) == pytest.approx(packing_efficiency(reference, 2, packing, 256))


@pytest.mark.timeout(300)
def test_windows_give_the_same_rows_for_one_and_two_workers(
    ray_local: Any, fixture_build: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from curate.training.model import load_tokenizer
    from curate.training.prepare import plan_windows, read_window, window_rows

    tok = tokenizer_dir(fixture_build, tmp_path_factory.mktemp("tok"))
    windows = plan_windows(fixture_build, "stage2", 70)  # 360 records in shards of 100: slices cross shards
    assert [sum(s.stop - s.start for s in w) for w in windows] == [70, 70, 70, 70, 70, 10]
    assert len(windows[1]) == 2  # records 70..139 come from the first and the second shard
    one = prepare(tok, fixture_build, "stage2", True, 70, 1)
    two = prepare(tok, fixture_build, "stage2", True, 70, 2)
    rows_one, rows_two = streamed(one), streamed(two)
    assert rows_checksum(rows_one) == rows_checksum(rows_two)
    assert one.offsets == two.offsets and one.lengths == two.lengths and one.windows == 6
    # the rows are each window packed on its own, windows in manifest order
    tokenizer = load_tokenizer(tok)
    reference = [r for w in windows for r in window_rows(tokenizer, read_window(w), 256, True)[0]]
    assert rows_checksum(rows_one) == rows_checksum(reference)
    # every record is a packed example or counted as dropped: read = kept + dropped
    kept = [e for r in rows_one for e in r.example_ids]
    assert len(kept) == len(set(kept))
    assert one.stats.records == 360 == len(kept) + one.stats.dropped_no_assistant_tokens
    assert one.stats.tokens == sum(len(r.input_ids) for r in rows_one) == sum(one.lengths)
    assert one.efficiency(2, True, 256) >= 0.9


@pytest.mark.timeout(120)
def test_a_rank_keeps_only_its_rows(
    ray_local: Any, fixture_build: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from curate.training.prepare import RankRows

    tok = tokenizer_dir(fixture_build, tmp_path_factory.mktemp("tok"))
    prepared = prepare(tok, fixture_build, "stage1", True, 100, 2)
    every = streamed(prepared)
    rows = RankRows(
        lambda: prepared.dataset.iter_batches(batch_size=5, batch_format="pyarrow"),
        prepared.offsets,
        prepared.num_rows,
    )
    mine = [i for i in range(len(rows)) if i % 3 == 1]
    rows.keep_only(iter(mine))
    assert len(rows) == prepared.num_rows
    assert [rows[i] for i in mine] == [every[i] for i in mine]
    with pytest.raises(IndexError, match="not among this rank's rows"):
        rows[0]
    # rows prepared in memory travel the same way, as one window
    from curate.training.prepare import in_memory_stage

    dataset, offsets = in_memory_stage(every)
    again = RankRows(lambda: dataset.iter_batches(batch_size=3, batch_format="pyarrow"), offsets, len(every))
    again.keep_only(range(len(every)))
    assert [again[i] for i in range(len(every))] == every


@pytest.mark.timeout(120)
def test_a_shard_shorter_than_its_manifest_is_a_data_error_naming_it(
    ray_local: Any, fixture_build: Path, tmp_path: Path
) -> None:
    import json
    import shutil

    from curate.training.data import DataError

    build = tmp_path / "build"
    shutil.copytree(fixture_build, build)
    manifest_path = build / "stage1" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["shards"][0]["rows"] += 5
    manifest_path.write_text(json.dumps(manifest))
    tok = tokenizer_dir(fixture_build, tmp_path / "tok")
    with pytest.raises(DataError, match=r"train-00000-of-00003\.parquet has 100 rows but its manifest says"):
        prepare(tok, build, "stage1", True, 1000, 1)


@pytest.mark.timeout(60)
def test_a_window_decodes_only_the_row_groups_it_needs(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate.training.prepare import ShardReader, ShardSlice

    rows = [{"id": f"r{i:05d}", "messages": [{"role": "user", "content": f"q{i}"},
                                             {"role": "assistant", "content": f"a{i}"}]} for i in range(20_000)]
    table = pa.Table.from_pylist(rows)
    grouped, whole = tmp_path / "grouped.parquet", tmp_path / "whole.parquet"
    pq.write_table(table, grouped, row_group_size=5_000)  # as `curate build` writes a 20,000-row shard
    pq.write_table(table, whole)
    reader = ShardReader()
    assert reader.records([ShardSlice(str(grouped), 7_000, 7_100)]) == rows[7_000:7_100]
    assert reader._span == (str(grouped), 5_000, 10_000)  # one row group decoded, not the shard
    assert reader.records([ShardSlice(str(grouped), 9_990, 15_001)]) == rows[9_990:15_001]
    assert reader._span == (str(grouped), 5_000, 20_000)
    # a slice inside what was decoded reuses it; a shard of one row group is decoded whole, once
    assert reader.records([ShardSlice(str(grouped), 12_000, 12_010), ShardSlice(str(whole), 0, 10)]) == (
        rows[12_000:12_010] + rows[:10])
    assert reader._span == (str(whole), 0, 20_000)
    assert reader.records([ShardSlice(str(whole), 19_990, 20_000)]) == rows[19_990:]


@pytest.mark.timeout(30)
def test_window_plan_errors_name_the_config_key_and_the_empty_stage(fixture_build: Path, tmp_path: Path) -> None:
    from curate.training.data import DataError
    from curate.training.prepare import plan_windows
    from tests.training_fixtures import write_stage

    with pytest.raises(DataError, match="pack_window_records"):
        plan_windows(fixture_build, "stage1", 0)
    write_stage(tmp_path / "b" / "stage1", "stage1", [], rows_per_shard=10)
    with pytest.raises(DataError, match="stage 'stage1' is empty"):
        plan_windows(tmp_path / "b", "stage1", 10)


@pytest.mark.timeout(60)
def test_a_tokenizer_without_a_chat_template_fails_on_the_driver_before_any_worker(
    fixture_build: Path, tmp_path: Path
) -> None:
    # the driver loads the tokenizer and hands it to the actors: a bad one is a ConfigError here, not an
    # actor's crash wrapped in Ray's errors
    import json

    from curate.training.config import ConfigError

    tok = tokenizer_dir(fixture_build, tmp_path / "tok")
    config = json.loads((tok / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (tok / "tokenizer_config.json").write_text(json.dumps(config))
    (tok / "chat_template.jinja").unlink(missing_ok=True)
    with pytest.raises(ConfigError, match="has no chat template"):
        prepare(tok, fixture_build, "stage1", True, 100, 1)
