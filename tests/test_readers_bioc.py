"""BioC XML reader on a tiny collection: several documents and passages, multi-location annotations, relations.

Both relation shapes are read: with role nodes, and BC5CDR-style with concept ids in infons.
"""

from __future__ import annotations

from conftest import DATA, reasons

D = DATA / "bioc"


def test_collection_passages_annotations_relations(read) -> None:
    docs, ctx = read("bioc", D / "collection.xml", labels=("Chemical", "Disease", "CID"))
    first = docs[0]
    assert first.text == "Aspirin and ulcers Gastric and duodenal ulcers appeared."
    assert [(p.type, p.offsets) for p in first.passages] == [("title", [(0, 18)]), ("abstract", [(19, 56)])]
    gastric = first.entity("3")
    assert gastric.offsets == [(19, 26), (40, 46)] and gastric.text == ["Gastric", "ulcers"]
    assert [(n.db_name, n.db_id) for n in gastric.normalized] == [("MESH", "D013276"), ("MESH", "D004381")]
    assert [(n.db_name, n.db_id) for n in first.entity("1").normalized] == [("MESH", "D001241")]
    assert [(r.id, r.arg1_id, r.arg2_id) for r in first.relations] == [("R1", "1", "2"), ("R2", "1", "3")]
    assert all(r.record_id == "12" for r in ctx.rejects)


def test_bad_annotations_are_dropped_by_name(read) -> None:
    docs, ctx = read("bioc", D / "collection.xml", labels=("Chemical", "Disease", "CID"))
    assert docs[1].entities == [] and docs[1].relations == []
    got = " | ".join(reasons(ctx))
    for expected in ("outside the text", "'Shirt' differs", "unknown entity type 'Virus'", "not an integer",
                     "relation R1 refers to missing or dropped annotation(s) ['1', '9']"):
        assert expected in got, expected


def test_truncated_and_empty(read) -> None:
    docs, ctx = read("bioc", D / "truncated.xml")
    assert docs == [] and "invalid XML" in reasons(ctx)[0]
    docs, ctx = read("bioc", D / "empty.xml")
    assert docs == [] and reasons(ctx) == ["the file is empty"]


def test_a_latin1_file_is_named_an_encoding_problem_not_bad_xml(read, tmp_path) -> None:
    """A BioC file saved as Latin-1 without saying so: the reject names the encoding and the byte, not "invalid XML"."""
    text = ('<?xml version="1.0"?><collection><document><id>1</id><passage><offset>0</offset>'
            "<text>Crohn\u00e9 disease</text></passage></document></collection>")
    path = tmp_path / "latin1.xml"
    path.write_bytes(text.encode("latin-1"))
    docs, ctx = read("bioc", path)
    assert docs == [] and ctx.rejects[0].field == "(encoding)"
    assert reasons(ctx)[0].startswith(f"not valid utf-8 at byte {text.index(chr(0xE9))}")
    declared = tmp_path / "declared.xml"  # the same bytes, with the encoding declared, read fine
    declared.write_bytes(text.replace('version="1.0"', 'version="1.0" encoding="ISO-8859-1"').encode("latin-1"))
    docs, ctx = read("bioc", declared)
    assert len(docs) == 1 and "Crohn\u00e9" in docs[0].text
