"""DDI XML reader on tiny files: inclusive and discontinuous charOffset, pairs, candidate-pair counts.

Negative pairs are not relations but are counted, so validate can report candidate and positive pairs.
"""

from __future__ import annotations

from conftest import DATA, reasons

D = DATA / "ddi"


def test_document_entities_and_pairs(read) -> None:
    (doc,), ctx = read("ddi_xml", D / "good.xml")
    assert ctx.rejects == []
    assert doc.text == "Aspirin increases warfarin and heparin levels. No drugs here."
    ents = {e.id.rsplit(".", 1)[1]: e for e in doc.entities}
    assert ents["e0"].offsets == [(0, 7)] and ents["e0"].text == ["Aspirin"]  # inclusive end 6 -> 7
    assert ents["e2"].offsets == [(18, 19), (31, 38)] and ents["e2"].text == ["w", "heparin"]
    assert [(r.type, r.arg1_id[-2:], r.arg2_id[-2:]) for r in doc.relations] == [
        ("mechanism", "e0", "e1"), ("int", "e1", "e2")]  # an untyped true pair is "int"
    assert doc.stats == {"candidate_pairs": 3, "negative_pairs": 1} and ctx.stats == {}
    assert [p.offsets for p in doc.passages] == [[(0, 46)], [(47, 61)]]


def test_bad_entities_and_pairs_are_named(read) -> None:
    (doc,), ctx = read("ddi_xml", D / "bad.xml", labels=("drug", "effect"))
    assert doc.entities == [] and doc.relations == []
    got = " | ".join(reasons(ctx))
    for expected in ("outside the text", "'Shirt' differs", "'zero' is not START-END", "unknown entity type 'protein'",
                     "pair D2.s0.p0: entity D2.s0.e0 is not in the sentence"):
        assert expected in got, expected
    assert doc.stats == {"candidate_pairs": 1, "negative_pairs": 0}


def test_truncated_and_empty(read) -> None:
    docs, ctx = read("ddi_xml", D / "truncated.xml")
    assert docs == [] and "invalid XML" in reasons(ctx)[0] and ctx.rejects[0].line
    docs, ctx = read("ddi_xml", D / "empty.xml")
    assert docs == [] and reasons(ctx) == ["the file is empty"]
