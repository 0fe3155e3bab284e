"""PubTator reader on tiny files: composite and missing ids, relation binding, .gz, and each bad input.

Bad lines are rejected or dropped by name (file, line, PMID, reason); the rest of the document survives.
"""

from __future__ import annotations

from conftest import DATA, reasons

D = DATA / "pubtator"


def test_documents_mentions_ids_and_relations(read) -> None:
    docs, ctx = read("pubtator", D / "good.txt")
    assert [d.id for d in docs] == ["111", "222"] and ctx.rejects == []
    first = docs[0]
    assert first.text == "Aspirin causes ulcers Ulcers and bleeding follow aspirin."
    assert [(e.type, e.text[0]) for e in first.entities][:2] == [("Chemical", "Aspirin"), ("Disease", "ulcers")]
    assert [n.db_id for n in first.entities[1].normalized] == ["D014456", "D000001"]
    assert first.entities[3].normalized == []  # id -1 means "no concept"
    (rel,) = first.relations
    assert (rel.type, rel.arg1_id, rel.arg2_id) == ("CID", "T0", "T1")  # first mention of each concept
    assert [n.db_id for n in docs[1].entities[0].normalized] == ["D001943", "D010051"]


def test_gzip_reads_the_same(read) -> None:
    plain, _ = read("pubtator", D / "good.txt")
    gz, ctx = read("pubtator", D / "good.txt.gz")
    assert [d.model_dump() for d in gz] == [d.model_dump() for d in plain] and ctx.rejects == []


def test_bad_lines_are_named_and_the_document_kept(read) -> None:
    docs, ctx = read("pubtator", D / "bad.txt", labels=("Disease", "CID"))
    assert [e.text[0] for e in docs[0].entities] == ["Short"]
    got = reasons(ctx)
    assert any("outside the text" in r for r in got)
    assert any("'titel' differs from the text" in r for r in got)
    assert any("4 tab-separated columns" in r or "3 tab-separated columns" in r for r in got)
    assert any("unknown entity type 'Gene'" in r for r in got)
    assert any("no mention of that concept" in r for r in got)
    assert all(r.record_id == "333" and r.line and r.file.endswith("bad.txt") for r in ctx.rejects)


def test_empty_file_and_wrong_encoding(read) -> None:
    docs, ctx = read("pubtator", D / "empty.txt")
    assert docs == [] and reasons(ctx) == ["the file is empty"]
    docs, ctx = read("pubtator", D / "latin1.txt")
    assert docs == [] and "not valid utf-8" in reasons(ctx)[0] and ctx.rejects[0].line == 1
    docs, ctx = read("pubtator", D / "latin1.txt", {"encoding": "latin-1"})
    assert docs[0].text.startswith("Sjögren") and ctx.rejects == []


def test_offset_that_is_not_an_ascii_integer_is_a_named_drop(read) -> None:
    # '1²'.isdigit() is True but int('1²') raises; a full-width '０' is a digit to int() but not to PubTator
    docs, ctx = read("pubtator", D / "non_ascii_offset.txt")
    assert [e.text[0] for e in docs[0].entities] == ["Tumour"]
    dropped = [r for r in ctx.rejects if r.field == "offsets"]
    assert [(r.line, r.action, r.record_id) for r in dropped] == [(3, "dropped", "444"), (5, "dropped", "444")]
    assert "'1²'" in dropped[0].reason and "not whole numbers" in dropped[0].reason


def test_id_columns_choose_where_concept_ids_are(read, tmp_path) -> None:
    # tmVar: column 5 is a normalized variant form (not ids), column 6 an optional RSID, rows are ragged
    path = tmp_path / "tmvar.txt"
    path.write_text("7|t|A c.1A>G change\n7|a|x\n7\t2\t8\tc.1A>G\tDNAMutation\tc|SUB|A|1|G\tRSID:42\n"
                    "7\t2\t3\tc\tDNAMutation\tc|SUB|A|1|G\n", encoding="utf-8")
    docs, ctx = read("pubtator", path, {"id_columns": [6]})
    assert [[(n.db_name, n.db_id) for n in e.normalized] for e in docs[0].entities] == [[("RSID", "42")], []]
    assert ctx.rejects == []
