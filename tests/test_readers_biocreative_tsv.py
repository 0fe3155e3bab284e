"""ChemProt/DrugProt TSV reader on tiny files: three files per split, column layouts, bad rows by file and line.

The abstracts file is the one the catalog names; entities and relations files are found by name.
"""

from __future__ import annotations

from conftest import DATA, reasons

D = DATA / "biocreative_tsv"
CHEMPROT = {"relation_columns": ["pmid", "group", "evaluated", "subtype", "arg1", "arg2"],
            "relation_type_column": "group"}


def test_chemprot_layout(read) -> None:
    docs, ctx = read("biocreative_tsv", D / "tiny_abstracts.tsv", CHEMPROT)
    assert ctx.rejects == [] and [d.id for d in docs] == ["100", "200"]
    doc = docs[0]
    assert doc.text == "Aspirin blocks COX-1 Aspirin inhibits COX-1 activity."
    assert [(e.id, e.text[0]) for e in doc.entities] == [("T1", "Aspirin"), ("T2", "COX-1"), ("T3", "Aspirin"),
                                                         ("T4", "COX-1")]
    assert [(r.type, r.arg1_id, r.arg2_id) for r in doc.relations] == [("CPR:4", "T1", "T2"), ("CPR:4", "T3", "T4")]
    assert docs[1].entities == [] and docs[1].relations == []


def test_drugprot_layout_types_relations_by_name(read) -> None:
    docs, _ = read("biocreative_tsv", D / "tiny_abstracts.tsv",
                   {"relation_columns": ["pmid", "group", "evaluated", "type", "arg1", "arg2"]})
    assert [r.type for r in docs[0].relations] == ["INHIBITOR", "INHIBITOR"]


def test_bad_rows_name_their_file_and_line(read) -> None:
    docs, ctx = read("biocreative_tsv", D / "bad_abstracts.tsv", labels=("CHEMICAL", "INHIBITOR"))
    assert [d.id for d in docs] == ["400"] and [e.id for e in docs[0].entities] == ["T1"]
    by_reason = {r.reason: r for r in ctx.rejects}
    got = " | ".join(by_reason)
    for expected in ("abstract line has 2 columns", "outside the text", "'titel' differs", "row has 3 columns",
                     "unknown entity type 'PROTEIN'", "offsets 'one'-'2' are not integers",
                     "relation argument T2 is not a (kept) entity", "row has 2 columns",
                     "1 entities for PMID 999, which has no abstract"):
        assert expected in got, expected
    outside = next(r for r in ctx.rejects if "outside the text" in r.reason)
    assert outside.file.endswith("bad_entities.tsv") and outside.line == 2 and outside.record_id == "400"


def test_missing_siblings(read) -> None:
    docs, ctx = read("biocreative_tsv", D / "lonely_abstracts.tsv")
    assert docs == [] and "no entities file" in reasons(ctx)[0]
