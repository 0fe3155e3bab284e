"""Mixing quotas: pure functions, checked by hand-computed cases and properties."""

from hypothesis import given
from hypothesis import strategies as st

from curate.build.select import largest_remainder, mixture, rate
from curate.catalog import Mixing


def test_rate_caps_and_temperature():
    assert rate(50_000, 10_000, 1.0) == 10_000
    assert rate(400, 10_000, 2.0) == 20.0
    assert rate(0, 10, 1.0) == 0.0


def test_examples_proportional_with_cap_is_the_identity_below_the_cap():
    counts = {("a", "ner", "en"): 300, ("b", "ner", "en"): 100, ("c", "tc", "zh"): 50_000}
    q = mixture(counts, Mixing(cap=10_000, temperature=1.0))
    assert {k: v.quota for k, v in q.items()} == {("a", "ner", "en"): 300, ("b", "ner", "en"): 100,
                                                  ("c", "tc", "zh"): 10_000}
    assert q[("c", "tc", "zh")].sampled_out == 40_000


def test_language_shares_rebalance_without_upsampling():
    counts = {("en1", "ner", "en"): 100, ("zh1", "ner", "zh"): 300, ("zh2", "tc", "zh"): 100}
    q = mixture(counts, Mixing(cap=1000, language_shares={"en": 0.5, "zh": 0.5}))
    # by hand: task shares stay natural (ner 0.8, tc 0.2); tc exists only in zh, so the groups are
    # ner.en 0.5, ner.zh 0.3, tc.zh 0.2 of 500 = 250/150/100. en has only 100 and no upsampling,
    # so everything scales by 0.4 and 1:1 holds: 100 en, 60 + 40 zh
    assert {k: v.quota for k, v in q.items()} == {("en1", "ner", "en"): 100, ("zh1", "ner", "zh"): 60,
                                                  ("zh2", "tc", "zh"): 40}


def test_upsampling_reaches_the_share_with_copies():
    counts = {("en1", "ner", "en"): 100, ("zh1", "ner", "zh"): 300}
    q = mixture(counts, Mixing(cap=1000, language_shares={"en": 0.5, "zh": 0.5}, upsample=True))
    assert q[("en1", "ner", "en")].quota == 200 and q[("en1", "ner", "en")].upsampled == 100
    assert q[("zh1", "ner", "zh")].quota == 200


def test_temperature_flattens():
    counts = {("big", "tc", "en"): 9000, ("small", "qa", "en"): 100}
    flat = mixture(counts, Mixing(cap=10_000, temperature=2.0, upsample=True))
    prop = mixture(counts, Mixing(cap=10_000, temperature=1.0))
    share = lambda q: q[("small", "qa", "en")].quota / sum(v.quota for v in q.values())  # noqa: E731
    assert share(flat) > share(prop)


@given(st.dictionaries(st.tuples(st.sampled_from("abcde"), st.sampled_from(["ner", "tc", "qa"]),
                                 st.sampled_from(["en", "zh"])), st.integers(0, 5000), min_size=1, max_size=12),
       st.floats(0.5, 4.0), st.booleans())
def test_quotas_never_exceed_available_without_upsampling(counts, temperature, shares):
    mixing = Mixing(cap=2000, temperature=temperature, language_shares={"en": 0.3, "zh": 0.7} if shares else {})
    quotas = mixture(counts, mixing)
    for key, q in quotas.items():
        assert 0 <= q.quota <= min(counts[key], 2000)
    assert quotas == mixture(dict(reversed(list(counts.items()))), mixing)  # order never matters


@given(st.dictionaries(st.tuples(st.text(min_size=1, max_size=3), st.just("t"), st.just("en")),
                       st.floats(0, 100), min_size=1, max_size=10))
def test_largest_remainder_sums_exactly(targets):
    total = round(sum(targets.values()))
    rounded = largest_remainder(targets, total)
    assert sum(rounded.values()) == total
    assert all(abs(rounded[k] - v) < 1 + 1e-9 for k, v in targets.items())
