"""The XML, standoff and text reader families of issue 11 part B on tiny files of our own: each bad input
is a named reject, drop or repair (file, line or record, field, reason) and the rest is read."""

from __future__ import annotations

import zipfile
from pathlib import Path

from conftest import reasons

PPI = """<?xml version="1.0" encoding="UTF-8"?>
<corpus source="T">
  <document id="T.d0">
    <sentence charOffset="0-15" id="T.d0.s0" text="Abc binds Defg.">
      <entity charOffset="0-3" id="T.d0.s0.e0" text="Abc" type="protein" />
      <entity charOffset="10-14" id="T.d0.s0.e1" text="Defg" />
      <entity charOffset="x-y" id="T.d0.s0.e2" text="bad" />
      <interaction e1="T.d0.s0.e0" e2="T.d0.s0.e1" id="T.d0.s0.i0" type="PPI" />
      <interaction e1="T.d0.s0.e0" e2="T.d0.s0.e2" id="T.d0.s0.i1" type="PPI" />
    </sentence>
    <sentence charOffset="16-28" id="T.d0.s1" text="Hi binds Lo.">
      <entity charOffset="0-2,9-11" id="T.d0.s1.e0" text="Hi Lo" type="complex" />
    </sentence>
    <sentence id="T.d0.s2" text="No offset." />
  </document>
</corpus>
"""


def test_ppi_xml_offsets_relations_and_bad_spans(read, tmp_path: Path) -> None:
    path = tmp_path / "ppi.xml"
    path.write_bytes(PPI.replace("\n", "\r").encode())  # bare CR line ends, as the PPI files have
    (doc,), ctx = read("ppi_xml", path)
    assert doc.text == "Abc binds Defg. Hi binds Lo. No offset."
    assert [(e.id, e.type, e.text) for e in doc.entities] == [
        ("T.d0.s0.e0", "protein", ["Abc"]), ("T.d0.s0.e1", "protein", ["Defg"]),
        ("T.d0.s1.e0", "complex", ["Hi", "Lo"])]
    assert doc.entities[2].offsets == [(16, 18), (25, 27)]  # sentence-relative in the file
    assert [(r.arg1_id, r.arg2_id) for r in doc.relations] == [("T.d0.s0.e0", "T.d0.s0.e1")]
    got = {(r.field, r.action): r.reason for r in ctx.rejects}
    assert "'x-y' is not `a-b[,c-d...]`" in got[("charOffset", "dropped")]
    assert "missing or dropped entities ['T.d0.s0.e2']" in got[("interaction", "dropped")]
    assert "no `start-end` charOffset" in got[("charOffset", "repaired")]
    assert all(r.record_id == "T.d0" for r in ctx.rejects)


def test_ppi_xml_end_inclusive_and_broken_files(read, tmp_path: Path) -> None:
    path = tmp_path / "incl.xml"
    path.write_text('<corpus><document id="d"><sentence charOffset="0-4" id="s" text="Abc x">'
                    '<entity charOffset="0-2" id="e" text="Abc" type="p"/></sentence></document></corpus>')
    (doc,), ctx = read("ppi_xml", path, {"offsets": "end_inclusive"})
    assert doc.entities[0].text == ["Abc"] and ctx.rejects == []
    (tmp_path / "cut.xml").write_text('<corpus><document id="d"><sentence')
    docs, ctx = read("ppi_xml", tmp_path / "cut.xml")
    assert docs == [] and "invalid XML" in reasons(ctx)[0]
    (tmp_path / "other.xml").write_text("<root><item/></root>")
    docs, ctx = read("ppi_xml", tmp_path / "other.xml")
    assert docs == [] and "no <document> element" in reasons(ctx)[0]


def test_genetag_lists_and_their_bad_lines(read, tmp_path: Path) -> None:
    (tmp_path / "CORPUS").write_text("@@1 The/TAG p53/TAG gene/TAG ./.\n@@2 None/TAG here/TAG ./.\n")
    (tmp_path / "Gold.format").write_text("@@1|1 2|p53 gene\n@@1|1 1|p54\n@@9|0 0|X\n@@1|2 7|gene\nbroken\n")
    (tmp_path / "Correct.Data").write_text("@@1|1 1|p53\n@@2|0 0|None\n")
    docs, ctx = read("genetag", tmp_path / "CORPUS")
    assert [d.text for d in docs] == ["The p53 gene .", "None here ."]
    (gene,) = docs[0].entities
    assert (gene.text, gene.offsets, gene.attributes) == (["p53 gene"], [(4, 12)], {"alternatives": "4-7"})
    assert docs[1].entities == []
    lines = {(Path(r.file).name, r.line): r.reason for r in ctx.rejects}
    assert "'p54' differs from the text" in lines[("Gold.format", 2)]
    assert "not in the corpus" in lines[("Gold.format", 3)]
    assert "outside the sentence (4 tokens)" in lines[("Gold.format", 4)]
    assert "is not `@@id|first last|mention`" in lines[("Gold.format", 5)]
    assert "'None' overlaps no gold mention" in lines[("Correct.Data", 2)]
    docs, ctx = read("genetag", tmp_path / "CORPUS", {"gold_file": "missing.txt", "alternatives_file": None})
    assert len(docs) == 2 and "set `gold_file`" in reasons(ctx)[0]


def test_inline_xml_derives_offsets(read, tmp_path: Path) -> None:
    path = tmp_path / "inline.xml"
    path.write_text('<Articles><Article><Pmid>7</Pmid><Title>The <gene g_id="1">ABC1 <v v_id="No">c.1A>G '
                    '</v></gene> story</Title><Abstract>Body <gene g_id="">XY</gene>.</Abstract></Article>'
                    '<Article><Pmid>8</Pmid></Article></Articles>')
    options = {"mentions": {"gene": {"type": "Gene", "ids": {"g_id": "NCBIGene"}},
                            "v": {"type": "Variant", "ids": {"v_id": "dbSNP"}, "no_id": ["No"]}}}
    (doc,), ctx = read("inline_xml", path, options)
    assert doc.text == "The ABC1 c.1A>G  story Body XY."
    assert [(e.type, e.text, [n.db_id for n in e.normalized]) for e in doc.entities] == [
        ("Variant", ["c.1A>G"], []), ("Gene", ["ABC1 c.1A>G"], ["1"]), ("Gene", ["XY"], [])]
    assert [p.type for p in doc.passages] == ["title", "abstract"]
    assert [(r.action, r.record_id) for r in ctx.rejects] == [("repaired", "7"), ("repaired", "7"), ("rejected", "8")]


def test_parallel_text_pairs_lines_and_names_the_leftovers(read, tmp_path: Path) -> None:
    (tmp_path / "c.en").write_bytes(b"one\r\ntwo\r\n\r\nfour @-@ five &amp; six\r\nfive\r\n")  # CRLF
    (tmp_path / "c.zh").write_text("一\n二\n三\n四\n", encoding="utf-8")
    docs, ctx = read("parallel_text", tmp_path / "c.en", {"moses_unescape": True})
    assert [d.texts for d in docs] == [{"en": "one", "zh": "一"}, {"en": "two", "zh": "二"},
                                       {"en": "four-five & six", "zh": "四"}]
    assert [(r.line, r.record_id) for r in ctx.rejects] == [(3, "c:line3"), (5, "c:line5")]
    assert "en side of line 3 is empty" in reasons(ctx)[0] and "no counterpart in ['zh']" in reasons(ctx)[1]
    docs, ctx = read("parallel_text", tmp_path / "c.en", {"suffixes": {"en": ".en", "fr": ".fr"}})
    assert docs == [] and "no fr side" in reasons(ctx)[0]


def test_xml_qa_questions_without_answers_are_rejected(read, tmp_path: Path) -> None:
    path = tmp_path / "qa.xml"
    path.write_text("<R><Q id='1'><S>Why?</S><A>Because\n\t\tof it. </A><A>Also.</A></Q>"
                    "<Q id='2'><S>What?</S></Q></R>")
    options = {"question_element": ".//Q", "id_attribute": "id", "question_paths": ["S"], "answer_paths": ["A"]}
    (doc,), ctx = read("xml_qa", path, options)
    assert (doc.question, doc.answer) == ("Why?", ["Because of it.", "Also."])
    assert [(r.record_id, r.field) for r in ctx.rejects] == [("2", "answer")]


def test_standoff_texts_in_one_file_and_annotations_elsewhere(read, tmp_path: Path) -> None:
    (tmp_path / "ann").mkdir()
    (tmp_path / "corpus.txt").write_text("11\tAbc binds Def.\nno tab here\n12\tNothing.\n13\tLost.\n")
    (tmp_path / "ann" / "11.ann").write_text("T1\tGene 0 3\tAbc\nT2\tGene 10 13\tDef\n"
                                             "R1\tBinds Arg1:T1 Arg2:T2\t\nE1\tGene:T2 \n")
    (tmp_path / "ann" / "12.ann").write_text("")
    options = {"texts": "id_tab_lines", "annotation_dir": "ann", "annotation_suffixes": [".ann"],
               "argumentless_events": "entities"}
    docs, ctx = read("standoff", tmp_path / "corpus.txt", options)
    assert [(d.id, d.text, len(d.entities), len(d.relations)) for d in docs] == [
        ("11", "Abc binds Def.", 2, 1), ("12", "Nothing.", 0, 0)]
    assert [(r.record_id, r.field, r.line) for r in ctx.rejects] == [
        ("11", "event", 4), ("corpus:line2", "(line)", 2), ("13", "(file)", 4)]
    assert any("has no arguments" in r for r in reasons(ctx))
    # a reject of an annotation line names the annotation file; one of a text line the text file
    assert [Path(r.file).relative_to(tmp_path).as_posix() for r in ctx.rejects] == [
        "ann/11.ann", "corpus.txt", "corpus.txt"]


def test_standoff_sibling_annotation_folder_inside_an_archive(read, tmp_path: Path) -> None:
    archive = tmp_path / "corpus.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("c/texts/p1.txt", "Gene ABC.\n")
        zf.writestr("c/anns/p1.ann", "T_a1\tGene 5 8\tABC\n")
    (doc,), ctx = read("standoff", f"{archive}!c/texts/p1.txt", {"annotation_dir": "../anns",
                                                                 "annotation_suffixes": [".ann"]})
    assert [(e.id, e.text) for e in doc.entities] == [("T_a1", ["ABC"])] and ctx.rejects == []


def test_standoff_reused_id_across_a1_and_a2_is_dropped(read, tmp_path: Path) -> None:
    (tmp_path / "d.txt").write_text("ABC is expressed.\n")
    (tmp_path / "d.a1").write_text("T1\tProtein 0 3\tABC\n")
    (tmp_path / "d.a2").write_text("T1\tGene_expression 7 16\texpressed\nT2\tGene_expression 7 16\texpressed\n"
                                   "E1\tGene_expression:T2 Theme:T1\n")
    (doc,), ctx = read("standoff", tmp_path / "d.txt")
    assert [e.id for e in doc.entities] == ["T1"] and len(doc.events) == 1
    assert ["already used by line 1 of .a1" in r for r in reasons(ctx)] == [True]
    assert (Path(ctx.rejects[0].file).name, ctx.rejects[0].line) == ("d.a2", 1)
