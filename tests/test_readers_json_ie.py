"""IE from JSON described in YAML (reader ``json_ie``): container-relative string offsets, end-inclusive
ends, mention-only entities located in the text (missing and ambiguous ones reported), relations by entity
id or by mention, nested and discontinuous spans. Tiny files of our own under tests/data/readers/json_ie.
"""

from __future__ import annotations

from conftest import DATA

D = DATA / "json_ie"
NESTED = {"id_field": "doc_id", "levels": [{"path": "paragraphs", "offset": "offset", "type": "paragraph"},
                                           {"path": "sentences", "offset": "offset", "type": "sentence"}],
          "entities": {"start": "start", "end": "end", "end_inclusive": True},
          "relations": {"path": "relations"}}
MENTIONS = {"entities": {"type": "label", "mention": "mention", "id": "mention", "spans": "spans"},
            "relations": {"type": "p", "head": "s", "tail": "o", "by": "mention"}}


def test_offsets_relative_to_paragraphs_and_sentences(read) -> None:
    (doc,), ctx = read("json_ie", D / "nested.json", NESTED)
    assert doc.id == "D1"
    assert [(e.type, e.text[0], e.offsets[0]) for e in doc.entities] == [
        ("Drug", "Aspirin", (0, 7)), ("Sign", "fever", (16, 21)), ("Sign", "Fever", (23, 28)),
        ("Drug", "Ibuprofen", (38, 47))]
    assert [(p.type, doc.text[p.offsets[0][0]:p.offsets[0][1]]) for p in doc.passages] == [
        ("sentence", "Aspirin reduces fever."), ("sentence", "Fever returns."),
        ("sentence", "Ibuprofen and aspirin differ.")]
    assert [(r.type, r.arg1_id, r.arg2_id) for r in doc.relations] == [("treats", "T0", "T1")]
    assert [(r.field, r.action) for r in ctx.rejects] == [("offsets", "dropped"), ("relations[1].tail", "dropped")]


def test_mentions_are_located_and_reported(read) -> None:
    docs, ctx = read("json_ie", D / "mentions.jsonl", MENTIONS)
    first, second = docs
    assert [(e.type, e.text[0], e.offsets[0]) for e in first.entities] == [
        ("Side", "left", (12, 16)), ("Symptom", "pain", (38, 42)), ("Site", "left leg", (25, 33))]
    assert ctx.stats["ambiguous_mentions"] == 1
    assert [(r.type, first.entity(r.arg1_id).text[0], first.entity(r.arg2_id).text[0]) for r in first.relations] \
        == [("located", "pain", "left leg")]
    assert [(r.record_id, r.field, r.reason) for r in ctx.rejects] == [
        ("m1", "entities[2]", "mention 'headache' does not occur in the text"),
        ("m1", "relations[1].o", "argument o='right arm' names no entity of the record (by mention)")]
    assert [(e.offsets, e.text) for e in second.entities] == [
        ([(0, 6), (19, 25)], ["Breast", "cancer"]), ([(11, 25)], ["ovarian cancer"])]  # discontinuous, nested


def test_ambiguous_mentions_can_be_dropped(read) -> None:
    opts = {**MENTIONS, "entities": {**MENTIONS["entities"], "ambiguous": "drop"}}
    docs, ctx = read("json_ie", D / "mentions.jsonl", opts)
    assert [e.text[0] for e in docs[0].entities] == ["pain", "left leg"]
    assert "occurs 2 times" in ctx.rejects[0].reason


def test_cmeee_in_yaml_alone_matches_its_dedicated_reader(shared_catalog) -> None:
    """The real CMeEE-V2 dev set described for json_ie gives the cmeee reader's documents and 12,397 entities."""
    from curate.readers import ReadContext, get_reader

    entry = shared_catalog.dataset("cmeee")
    (path,) = shared_catalog.resolve_files(entry, "dev")
    yaml_only = {"entities": {"start": "start_idx", "end": "end_idx", "type": "type", "mention": "entity", "id": None}}
    read = {}
    for reader, options in (("cmeee", entry.options), ("json_ie", yaml_only)):
        ctx = ReadContext("cmeee", "dev", str(path), "zh", frozenset(entry.labels))
        read[reader] = (list(get_reader(reader, options).read(str(path), ctx)), ctx.rejects)
    (dedicated, dedicated_rejects), (mapped, mapped_rejects) = read["cmeee"], read["json_ie"]
    assert len(mapped) == 2444 and sum(len(d.entities) for d in mapped) == 12397
    assert dedicated_rejects == mapped_rejects == []
    assert [(d.id, d.text, [(e.type, e.offsets) for e in d.entities]) for d in mapped] == \
        [(d.id, d.text, [(e.type, e.offsets) for e in d.entities]) for d in dedicated]
