"""BRAT and BioNLP-ST standoff reader on tiny files: discontinuous spans, events, attributes, equivalences.

Checks the .ann/.a1/.a2 conventions and that every bad annotation is dropped by name, not fatally.
"""

from __future__ import annotations

from conftest import DATA, reasons

D = DATA / "standoff"


def test_brat_document(read) -> None:
    (doc,), ctx = read("standoff", D / "brat" / "doc1.txt")
    assert ctx.rejects == []
    ents = {e.id: e for e in doc.entities}
    assert set(ents) == {"T1", "T2", "T3"}  # T4 is a trigger
    assert ents["T2"].offsets == [(15, 20), (30, 49)] and ents["T2"].text == ["chest", "shortness of breath"]
    assert ents["T1"].attributes == {"Negated": "true"}
    assert [(n.db_name, n.db_id) for n in ents["T3"].normalized] == [("DrugBank", "DB00945")]
    (event,) = doc.events
    assert event.trigger.text == ["given"] and event.attributes == {"Certainty": "High"}
    assert [(a.role, a.ref_id) for a in event.arguments] == [("Theme", "T3")]
    assert [(r.type, r.arg1_id, r.arg2_id) for r in doc.relations] == [("Related", "T1", "T3")]
    assert [c.entity_ids for c in doc.coreferences] == [["T1", "T2"]]
    assert [p.type for p in doc.passages] == ["title", "paragraph"]


def test_bionlp_a1_a2(read) -> None:
    (doc,), ctx = read("standoff", D / "bionlp" / "PMID-1.txt")
    assert ctx.rejects == [] and doc.id == "PMID-1"
    assert [e.id for e in doc.entities] == ["T1", "T2", "T3"]  # given entities from .a1 only
    (event,) = doc.events
    site = event.arguments[-1]
    assert (site.role, site.ref_id, site.text, site.offsets) == ("Site", "", "T", [(24, 25)])
    assert event.attributes == {"Speculation": "true"}


def test_bionlp_a2_textbounds_as_entities(read) -> None:
    (doc,), _ = read("standoff", D / "bionlp" / "PMID-1.txt", {"a2_textbounds": "entities"})
    assert [e.id for e in doc.entities] == ["T1", "T2", "T3", "T5"]
    assert doc.events[0].arguments[-1].ref_id == "T5"


def test_bad_annotations_are_dropped_by_name(read) -> None:
    (doc,), ctx = read("standoff", D / "bad" / "doc2.txt", labels=("Thing", "Rel", "Ev"))
    assert [e.id for e in doc.entities] == ["T1"] and doc.relations == [] and doc.events == []
    got = " | ".join(reasons(ctx))
    for expected in ("outside the text", "'tixt' differs", "malformed .ann line", "relation R1 refers to missing",
                     "event E1 refers to missing", "unknown annotation kind 'X1'"):
        assert expected in got, expected
    assert all(r.record_id == "doc2" and r.action == "dropped" for r in ctx.rejects)


def test_unknown_label_missing_annotations_empty_and_encoding(read) -> None:
    _, ctx = read("standoff", D / "brat" / "doc1.txt", labels=("Symptom", "Treat"))
    assert "unknown entity type 'Drug'" in reasons(ctx)[0]
    docs, ctx = read("standoff", D / "bad" / "noann.txt")
    assert docs == [] and "no annotation file" in reasons(ctx)[0]
    docs, ctx = read("standoff", D / "bad" / "empty.txt")
    assert docs == [] and reasons(ctx) == ["the file is empty"]
    docs, ctx = read("standoff", D / "bad" / "latin1.txt")
    assert docs == [] and "not valid utf-8" in reasons(ctx)[0]


def test_argument_offsets_survive_traditional_to_simplified(read) -> None:
    from curate.normalize import _simplify_ie
    from schemas.documents import Event, EventArgument, IEDocument, Trigger

    text = "醫院檢查發現腫瘤"
    doc = IEDocument(id="d", document_id="d", text=text, events=[Event(
        id="E1", type="Finding", trigger=Trigger(offsets=[(4, 6)], text=["發現"]),
        arguments=[EventArgument(role="Site", text="醫院", offsets=[(0, 2)])])])
    simplified = _simplify_ie(doc)
    assert simplified.text == "医院检查发现肿瘤"
    argument = simplified.events[0].arguments[0]
    assert (argument.text, argument.offsets) == ("医院", [(0, 2)])
