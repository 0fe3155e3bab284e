"""CBLUE-family readers on tiny files: CMeEE V1 inclusive ends, CMeIE argument search, CDEE, MDCFNPC, IMCS views.

Arguments that cannot be found, bad offsets and truncated JSON are each rejected by record and reason.
"""

from __future__ import annotations

from conftest import DATA, reasons

D = DATA / "cblue"


def test_cmeee_v1_inclusive_end(read) -> None:
    (doc,), ctx = read("cmeee", D / "cmeee_v1.json", {"end_inclusive": True})
    assert doc.entities[0].offsets == [(2, 4)] and doc.entities[0].text == ["头痛"] and ctx.rejects == []
    _, ctx = read("cmeee", D / "cmeee_v1.json")  # read as V2 the mention does not match
    assert "differs from the text" in reasons(ctx)[0]


def test_cmeee_bad_entities(read) -> None:
    docs, ctx = read("cmeee", D / "cmeee_bad.json", labels=("sym",))
    assert len(docs) == 1 and [e.text for e in docs[0].entities] == [["头痛"]]
    got = " | ".join(reasons(ctx))
    for expected in ("outside the text", "'病人' differs", "unknown entity type 'xyz'", "lacks start_idx",
                     "record has no string `text`"):
        assert expected in got, expected
    docs, ctx = read("cmeee", D / "truncated.json")
    assert docs == [] and "invalid JSON" in reasons(ctx)[0]


def test_cmeie_locates_arguments(read) -> None:
    docs, ctx = read("cmeie", D / "cmeie.jsonl", labels=("临床表现", "药物治疗", "疾病", "症状", "药物"))
    doc = docs[0]
    rels = [(r.type, doc.entity(r.arg1_id).text[0], doc.entity(r.arg2_id).offsets[0]) for r in doc.relations]
    assert rels == [("临床表现", "胃炎", (9, 11)), ("药物治疗", "胃炎", (16, 20))]
    assert doc.entity(doc.relations[1].arg1_id).offsets == [(0, 2)]  # subject: first occurrence
    got = " | ".join(reasons(ctx))
    assert "argument '胃癌' is empty or not found in the text" in got
    assert "triple 3 lacks predicate/subject/object" in got
    assert "invalid JSON on this line" in got
    assert len(docs) == 2 and docs[1].relations == []


def test_cdee_events(read) -> None:
    (doc,), ctx = read("chip_cdee", D / "cdee.json")
    first, second = doc.events
    expected = [("core_name", "疼痛"), ("character", "阵发性"), ("anatomy", "左腹部")]
    assert [(a.role, a.text) for a in first.arguments] == expected
    assert second.attributes == {"tendency": "否定"} and ctx.stats["arguments_not_in_text"] == 1
    assert reasons(ctx) == ["event 2 has no core_name"]


def test_mdcfnpc_mentions_in_dialogue(read) -> None:
    (doc,), ctx = read("chip_mdcfnpc", D / "mdcfnpc.jsonl")
    assert doc.text == "患者：我腹痛，不发热\n医生：多久了？"
    assert [(e.text[0], e.attributes["attr"]) for e in doc.entities] == [("腹痛", "阳性"), ("发热", "阴性")]
    assert doc.entities[0].normalized[0].db_id == "腹痛"
    assert "outside the text" in reasons(ctx)[0] and ctx.rejects[0].record_id == "9"


def test_imcs_views(read) -> None:
    (dialogue,), ctx = read("imcs", D / "imcs.json")
    turns = [(t.role, t.content) for t in dialogue.turns]
    assert turns == [("user", "医生你好\n我咳嗽"), ("assistant", "发烧吗\n好的")]
    assert dialogue.context == "咳嗽三天" and reasons(ctx) == ["example has no `dialogue` list"]
    acts, ctx = read("imcs", D / "imcs.json", {"view": "dialogue_acts"})
    assert [d.labels for d in acts] == [["Other"], ["Inform-Symptom"], ["Request-Symptom"]]
    assert "dialogue act '' is empty or unknown" in reasons(ctx)
    ner, _ = read("imcs", D / "imcs.json", {"view": "ner"})
    assert [(e.type, e.text[0]) for d in ner for e in d.entities] == [("Symptom", "咳嗽"), ("Symptom", "发烧")]
    (report,), _ = read("imcs", D / "imcs.json", {"view": "report"})
    assert report.output_sections == {"主诉": "咳嗽三天", "诊断": "上呼吸道感染"}
