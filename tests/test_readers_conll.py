"""CoNLL/IOB reader on tiny files: rebuilt text and offsets, -DOCSTART-, extra columns, BIOES, bad tags.

Every entity's text is the text at its rebuilt offsets; tag-sequence errors are reported by line.
"""

from __future__ import annotations

from conftest import DATA, reasons

D = DATA / "conll"


def test_sentences_with_extra_columns_and_docstart(read) -> None:
    docs, ctx = read("conll", D / "docs.iob2", {"separator": None})
    assert ctx.rejects == []
    assert [d.text for d in docs] == ["IL-2 gene expression", "in T cells", "NF-kappa B"]
    assert [(e.type, e.text[0]) for d in docs for e in d.entities] == [
        ("protein", "IL-2 gene"), ("cell_type", "T cells"), ("protein", "NF-kappa B")]
    assert docs[0].entities[0].offsets == [(0, 9)]
    assert [d.id for d in docs] == ["docs:d1:s3", "docs:d1:s7", "docs:d2:s13"]  # file:document:first line


def test_documents_mode_joins_sentences(read) -> None:
    docs, _ = read("conll", D / "docs.iob2", {"separator": None, "documents": "document"})
    assert [d.text for d in docs] == ["IL-2 gene expression\nin T cells", "NF-kappa B"]
    assert docs[0].entities[1].offsets == [(24, 31)] and len(docs[0].passages) == 2


def test_bioes_and_character_tokens(read) -> None:
    docs, ctx = read("conll", D / "bioes.tsv", {"scheme": "bioes"})
    assert [e.text[0] for e in docs[0].entities] == ["Aspirin", "breast cancer"] and ctx.rejects == []
    docs, _ = read("conll", D / "chars.bio", {"token_separator": ""})
    assert docs[0].text == "头痛三天" and docs[0].entities[0].text == ["头痛"]


def test_bad_input_is_named(read) -> None:
    docs, ctx = read("conll", D / "bad.iob2", labels=("protein",))
    got = {r.line: (r.action, r.reason) for r in ctx.rejects}
    assert got[3][0] == "rejected" and "columns" in got[3][1]              # too few columns
    assert got[6][0] == "rejected" and "'X-protein'" in got[6][1]          # not PREFIX-TYPE
    assert got[9][0] == "repaired" and "continues no entity" in got[9][1]  # I- without B-
    assert got[11][0] == "dropped" and "unknown entity type 'virus'" in got[11][1]
    assert [d.text for d in docs] == ["good", "fine orphan", "new"] and docs[2].entities == []


def test_empty_and_wrong_encoding(read) -> None:
    assert reasons(read("conll", D / "empty.iob2")[1]) == ["the file is empty"]
    docs, ctx = read("conll", D / "latin1.iob2")
    assert docs == [] and "not valid utf-8" in reasons(ctx)[0]


def test_white_space_characters_are_tokens_of_a_char_per_line_file(read) -> None:
    # U+3000, a space and U+00A0 are characters of the text: dropping them would shift every later offset
    docs, ctx = read("conll", D / "whitespace_chars.bio", {"token_separator": ""})
    assert ctx.rejects == [] and docs[0].text == "头痛\u3000 \u00a0三天"
    assert docs[0].entities[0].text == ["头痛"]
    for separator in (" ", None):  # a space column separator, or any run of white space
        docs, ctx = read("conll", D / "whitespace_chars_space.bio", {"token_separator": "", "separator": separator})
        assert ctx.rejects == [] and docs[0].text == "头痛\u3000 三", separator
