"""The unified schemas accept consistent documents and reject spans that do not match their text."""

import pytest
from pydantic import ValidationError

from schemas import Entity, IEDocument, InstructionRecord, QADocument, Relation


def _doc(**kw):
    base = {"id": "d1", "document_id": "d1", "text": "Aspirin causes ulcers."}
    return IEDocument(**{**base, **kw})


def test_entity_offsets_must_match_text():
    ok = _doc(entities=[Entity(id="T1", type="Chemical", offsets=[(0, 7)], text=["Aspirin"])])
    assert ok.entities[0].mention == "Aspirin"
    with pytest.raises(ValidationError, match="not 'Asprin'"):
        _doc(entities=[Entity(id="T1", type="Chemical", offsets=[(0, 7)], text=["Asprin"])])


def test_span_outside_text_is_rejected():
    with pytest.raises(ValidationError, match="outside text"):
        _doc(entities=[Entity(id="T1", type="X", offsets=[(15, 40)], text=["ulcers."])])


def test_discontinuous_entity_and_relation_arguments():
    doc = _doc(entities=[Entity(id="T1", type="X", offsets=[(0, 7), (15, 21)], text=["Aspirin", "ulcers"]),
                         Entity(id="T2", type="Y", offsets=[(15, 21)], text=["ulcers"])],
               relations=[Relation(id="R1", type="causes", arg1_id="T1", arg2_id="T2")])
    assert doc.entity("T1").mention == "Aspirin ulcers"
    with pytest.raises(ValidationError, match="not an entity"):
        _doc(relations=[Relation(id="R1", type="causes", arg1_id="T9", arg2_id="T2")])


def test_end_exclusive_zero_length_span_rejected():
    with pytest.raises(ValidationError, match="bad span"):
        Entity(id="T1", type="X", offsets=[(3, 3)], text=[""])


def test_qa_answer_must_be_a_choice():
    QADocument(id="q", document_id="q", qa_type="multiple_choice", question="?", choices=["a", "b"], answer=["b"])
    with pytest.raises(ValidationError, match="not among the choices"):
        QADocument(id="q", document_id="q", qa_type="multiple_choice", question="?", choices=["a", "b"],
                   answer=["c"])
    with pytest.raises(ValidationError, match="yes, no or maybe"):
        QADocument(id="q", document_id="q", qa_type="yesno", question="?", answer=["perhaps"])


def test_instruction_record_needs_a_conversation():
    with pytest.raises(ValidationError):
        InstructionRecord(id="x", dataset="d", split="train", task="ner", source_lang="en", prompt_lang="en",
                          template_id="t", messages=[{"role": "user", "content": "hi"}], answer_format="f",
                          gold="[]", provenance={"document_id": "d", "example_id": "e", "source_file": "f",
                                                 "catalog_entry_hash": "h"})
