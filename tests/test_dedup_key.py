"""The exact-duplicate key: white space and case do not count, words and message boundaries do."""

from hypothesis import given
from hypothesis import strategies as st

from curate.build.record import dedup_key, folded

# ASCII text takes its own path: every ASCII character Python counts as white space (the control
# separators \x1c-\x1f too) must fold the same; then non-ASCII space, letters that case-fold to several
# letters (ß -> ss) and CJK
ASCII = st.text(alphabet=st.sampled_from(list(" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1fabcABC.")), max_size=40)
MIXED = st.text(alphabet=st.sampled_from(list(" \t\n\x1c\x85\xa0\u3000\u2028abcABC.ßẞİΣς肺癌患者")), max_size=40)


@given(st.one_of(ASCII, MIXED, st.text(max_size=40)))
def test_folded_is_collapsed_casefolded_utf8(text):
    assert folded(text) == " ".join(text.split()).casefold().encode()


def test_key_ignores_spacing_and_case_but_not_words_or_turns():
    base = [{"role": "user", "content": "List the diseases.\nText: Aspirin"}, {"role": "assistant", "content": "none"}]
    spaced = [{"role": "user", "content": "  list the   DISEASES.\t\ttext:  aspirin "},
              {"role": "assistant", "content": "None\n"}]
    assert dedup_key(base) == dedup_key(spaced)
    other_word = [{"role": "user", "content": "List the diseases.\nText: Aspirins"}, base[1]]
    assert dedup_key(other_word) != dedup_key(base)
    moved_turn = [{"role": "user", "content": "List the diseases.\nText: Aspirin none"}, {"role": "assistant",
                                                                                        "content": ""}]
    assert dedup_key(moved_turn) != dedup_key(base)
