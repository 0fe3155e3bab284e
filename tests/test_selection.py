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
