"""Selection by seeded rank: exact quotas, copies for upsampling, independent of how files are split."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from curate.build.select import copies, plan_selection
from curate.tasks.base import selection_rank, selection_ranks, stable_hash
from curate.templates import load_templates


@given(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=60, unique=True), st.integers(0, 200),
       st.integers(0, 3))
def test_selection_takes_exactly_the_quota(ids, quota, seed):
    ranks = np.array([selection_rank(seed, i) for i in ids], dtype=np.uint64)
    selection = plan_selection(ranks, quota)
    taken = int(copies(ranks, selection).sum())
    assert taken == quota
    # any split of the ids into files decides the same: each example's copies depend on its rank alone
    first_half = int(copies(ranks[: len(ranks) // 2], selection).sum())
    second_half = int(copies(ranks[len(ranks) // 2:], selection).sum())
    assert first_half + second_half == quota


@given(st.lists(st.one_of(st.text(max_size=20), st.text("0123456789abcdefABCDEF", min_size=16, max_size=24)),
                max_size=40), st.integers(0, 5))
def test_rank_of_an_example_does_not_depend_on_its_batch(ids, seed):
    # phase 1 ranks a batch at once; hex-hash ids take a vectorised path, other ids are hashed first
    assert [int(r) for r in selection_ranks(seed, ids)] == [selection_rank(seed, i) for i in ids]
    assert [int(r) for r in selection_ranks(seed, ids[::-1])] == [selection_rank(seed, i) for i in ids[::-1]]


def test_seeds_select_unrelated_samples():
    ids = [stable_hash("doc", i, length=24) for i in range(5000)]  # as Task.new_example makes them
    lowest = [set(np.argsort(selection_ranks(seed, ids))[:500].tolist()) for seed in range(4)]
    for a in range(4):
        for b in range(a + 1, 4):
            # independent 10% samples share about 10% of their members (50 of 500)
            assert 20 < len(lowest[a] & lowest[b]) < 90


def test_selection_prefers_low_ranks_and_copies_evenly():
    ranks = np.array([selection_rank(0, f"e{i}") for i in range(10)], dtype=np.uint64)
    sel = plan_selection(ranks, 3)
    chosen = sorted(int(r) for r, n in zip(ranks, copies(ranks, sel), strict=True) if n)
    assert chosen == sorted(int(r) for r in ranks)[:3]
    up = plan_selection(ranks, 25)  # 2 full copies of all 10, plus the 5 lowest once more
    assert sorted(copies(ranks, up).tolist()) == [2] * 5 + [3] * 5


def test_upsampled_copies_use_other_templates(repo):
    library = load_templates(repo / "instruction_templates")
    chosen = [library.choose("ner", "all_types", True, "example-1", 0, copy).id for copy in range(3)]
    assert len(set(chosen)) == 3


@given(st.lists(st.one_of(st.integers(0, 2**64 - 1), st.integers(0, 40), st.integers(2**64 - 40, 2**64 - 1),
                          st.sampled_from([7, 2**63, 2**48 + 5])), min_size=1, max_size=300),
       st.integers(1, 9), st.integers(0, 10**6), st.sampled_from([1, 5, 64, 1 << 18]))
def test_kth_smallest_over_chunks_is_numpys_partition(values, chunks, at, in_memory):
    # the driver finds a quota's threshold without holding the ranks: radix passes over the files' chunks
    from curate.build.ranks import kth_smallest

    array = np.array(values, dtype=np.uint64)
    parts = np.array_split(array, chunks)
    k = at % len(array)
    assert kth_smallest(lambda: iter(parts), k, in_memory) == int(np.partition(array, k)[k])


def test_selection_from_stored_ranks_is_the_same(tmp_path):
    # ranks read back from phase-1 files, in several radix passes, select exactly what ranks in memory do
    import pyarrow as pa

    from curate.build import intermediate, ranks
    from curate.build.select import read_ranks

    rng = np.random.default_rng(3)
    paths, every = [], []
    for number in range(3):
        rank = rng.integers(0, 2**63, 700, dtype=np.uint64) * np.uint64(2)
        task = np.where(rng.random(700) < 0.7, "ner", "re")
        path = tmp_path / f"f{number}.arrow"
        table = pa.table({"task": task, "rank": rank, "document_id": [f"d{number}-{i // 4}" for i in range(700)]})
        with intermediate.writer(path, table.schema) as out:
            out.write_table(table, max_chunksize=256)
        paths.append(str(path))
        every.append(table)

    class Entry:
        name, train_splits = "ds", ["train"]

    gone = {paths[1]: {"d1-3": "overlap", "d1-9": "near_duplicates"}}
    stored, removed = read_ranks({("ds", "train"): paths}, [Entry()], gone)  # type: ignore[list-item]
    whole = pa.concat_tables(every)
    keep = ~np.isin(whole.column("document_id").to_numpy(zero_copy_only=False), ["d1-3", "d1-9"]) | np.repeat(
        [True, False, True], 700)
    assert sum(removed.values()) == int((~keep).sum()) == 8
    for task in ("ner", "re"):
        of_task = whole.column("task").to_numpy(zero_copy_only=False) == task
        in_memory = whole.column("rank").to_numpy()[keep & of_task]
        assert len(stored[("ds", task)]) == len(in_memory)
        for quota in (1, 17, len(in_memory) - 1, 2 * len(in_memory) + 5):
            ranks.IN_MEMORY, saved = 50, ranks.IN_MEMORY  # force radix passes
            try:
                assert plan_selection(stored[("ds", task)], quota) == plan_selection(in_memory, quota)
            finally:
                ranks.IN_MEMORY = saved
