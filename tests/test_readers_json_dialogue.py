"""Dialogues from JSON described in YAML (reader ``json_dialogue``): turn lists with speaker keys, inline
speaker markers, per-turn labels and BIO tags. Tiny files of our own under tests/data/readers/json_dialogue.
"""

from __future__ import annotations

from conftest import DATA, reasons

D = DATA / "json_dialogue"
CONSULT = {"records_path": "cases", "id_field": "cid", "turns": "turns", "speaker": "who", "text": "utt",
           "roles": {"patient": "user", "doctor": "assistant"}, "default_role": None, "context": "self_report"}


def test_turn_list_with_speakers(read) -> None:
    (doc,), ctx = read("json_dialogue", D / "consult.json", CONSULT)
    assert [(t.role, t.content) for t in doc.turns] == [
        ("user", "My stomach hurts."), ("assistant", "Since when?"), ("user", "Two days.\nAnd fever."),
        ("assistant", "Take rest.")]
    assert doc.context == "Stomach ache for two days."
    assert reasons(ctx) == ["speaker 'nurse' is not in roles"] and ctx.rejects[0].field == "turns[0].who"


def test_per_turn_labels_and_bio_tags(read) -> None:
    opts = {**CONSULT, "default_role": "user", "view": "turn_labels", "label": "act"}
    docs, ctx = read("json_dialogue", D / "consult.json", opts)
    assert [(d.id, d.labels[0]) for d in docs] == [("c1:0", "inform"), ("c1:1", "ask"), ("c1:2", "inform"),
                                                   ("c1:4", "advise"), ("c2:0", "greet")]
    assert reasons(ctx) == ["turn label '' is empty or unknown"]
    docs, ctx = read("json_dialogue", D / "consult.json", {**opts, "view": "bio", "label": "bio",
                                                            "tokens": "whitespace"})
    assert [(d.id, [(e.type, e.text[0]) for e in d.entities]) for d in docs if d.entities] == [
        ("c1:0", [("Symptom", "hurts.")]), ("c1:3", [("Symptom", "fever.")])]
    assert [(r.record_id, r.field, r.reason) for r in ctx.rejects] == [("c1:4", "bio", "1 BIO tags for 2 tokens")]


def test_inline_markers_and_a_response(read) -> None:
    opts = {"turns": None, "markers": {"<user>:": "user", "<bot>:": "assistant"}, "text": "instruction",
            "response": "output"}
    (doc,), ctx = read("json_dialogue", D / "markers.json", opts)
    assert [(t.role, t.content) for t in doc.turns] == [
        ("user", "Is it serious?"), ("assistant", "Not usually."), ("user", "What should I do?"),
        ("assistant", "Rest and drink water.")]
    assert ctx.rejects == []
