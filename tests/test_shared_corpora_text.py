"""The XML, standoff and text corpora of ../shared (issue 11, part B) read exactly as their SOURCE.md says.

`curate validate` on their entries in tests/catalogs/shared.yaml (YAML only) gives the published counts per
split; each quirk SOURCE.md lists comes out as a named repair or drop. Content checks read the documents
through the same catalog entries.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from curate.catalog import Catalog
from curate.readers import ReadContext, get_reader

# from each SOURCE.md; "textbounds" counts every T line of .a1 + .a2 (SOURCE.md's "entities" of BioNLP-ST),
# "alternatives" the Correct.Data lines attached to a gold mention (the rest are reported drops)
EXPECTED: dict[tuple[str, str], dict[str, int]] = {
    ("iepa", "train"): {"documents": 160, "sentences": 391, "entities": 907, "relations": 279},
    ("iepa", "test"): {"documents": 40, "sentences": 95, "entities": 210, "relations": 56},
    ("bioinfer", "train"): {"documents": 669, "sentences": 894, "entities": 3611, "relations": 2109,
                            "discontinuous_entities": 106},
    ("bioinfer", "test"): {"documents": 167, "sentences": 206, "entities": 810, "relations": 425,
                           "discontinuous_entities": 16},
    ("hprd50", "train"): {"documents": 34, "sentences": 111, "entities": 320, "relations": 137},
    ("hprd50", "test"): {"documents": 9, "sentences": 34, "entities": 85, "relations": 26},
    ("lll", "train"): {"documents": 36, "sentences": 65, "entities": 198, "relations": 134},
    ("lll", "test"): {"documents": 9, "sentences": 12, "entities": 41, "relations": 30},
    # train: 2,071 gold lines, one (CREB / ATF proteins) does not match its tokens; Correct.Data: one mismatch
    # per train and test (the test one differs by a trailing space: repaired), the rest overlap no gold mention
    ("genetag", "train"): {"documents": 1800, "entities": 2070, "alternatives": 1448, "annotations_dropped": 10},
    ("genetag", "test"): {"documents": 800, "entities": 972, "alternatives": 709, "annotations_dropped": 5,
                          "annotations_repaired": 1},
    ("genetag", "round1"): {"documents": 800, "entities": 956, "alternatives": 751, "annotations_dropped": 9},
    # 22 variant elements carry surrounding white space inside the element (trimmed, reported)
    ("osiris", "train"): {"documents": 105, "entities": 1365, "annotations_repaired": 22},
    ("paramed", "dev"): {"documents": 2036},
    ("paramed", "test"): {"documents": 2102},
    ("liveqa", "test"): {"documents": 104, "answers": 167},
    ("liveqa_summaries", "test"): {"documents": 104},
    ("mediqa_rqe_amia2016", "train"): {"documents": 3999},
    ("mediqa_rqe_amia2016", "dev"): {"documents": 302},
    ("mediqa_rqe_amia2016", "test"): {"documents": 230},
    ("anat_em", "train"): {"documents": 361, "entities": 3758, "textbounds": 3758},
    ("anat_em", "dev"): {"documents": 122, "entities": 1043, "textbounds": 1043},
    ("anat_em", "test"): {"documents": 235, "entities": 2398, "textbounds": 2398},
    # 7 argument-less events (a BRAT leftover) are dropped; their text-bounds stay entities
    ("seth_corpus", "train"): {"documents": 630, "entities": 3219, "relations": 593, "events": 0,
                               "annotations_dropped": 7},
    ("verspoor_2013", "train"): {"documents": 120, "entities": 6991, "relations": 4650, "discontinuous_entities": 0},
    ("bionlp_st_2011_ge", "train"): {"documents": 195, "textbounds": 5780, "events": 2928, "modifications": 422,
                                     "equivalences": 99, "relations": 0},
    ("bionlp_st_2011_ge", "dev"): {"documents": 110, "textbounds": 3740, "events": 1473, "modifications": 261,
                                   "equivalences": 19, "relations": 0},
    ("bionlp_st_2011_ge", "test"): {"documents": 155, "textbounds": 2669, "entities": 2669, "events": 0},
    # 674 mention lines, one without its type column (dropped by name); one free-text 3-column line (dropped)
    ("tmvar_v2", "train"): {"documents": 158, "entities": 673, "annotations_dropped": 2},
}
REJECT_KEYS = ("rejected", "annotations_dropped", "annotations_repaired")
DATASETS = sorted({name for name, _ in EXPECTED})


@pytest.fixture(scope="module")
def validated(shared_validation: dict[tuple[str, str], dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {key: row for key, row in shared_validation.items() if key[0] in DATASETS}


@pytest.fixture(scope="module")
def read(shared_catalog: Catalog):
    """read(name, split) -> (documents, rejects) of one split, through its catalog entry."""

    @cache
    def get(name: str, split: str) -> tuple[list[Any], list[Any]]:
        entry = shared_catalog.dataset(name)
        documents, rejects = [], []
        for path in shared_catalog.resolve_files(entry, split):
            ctx = ReadContext(name, split, str(path), entry.language, frozenset(entry.labels))
            documents += list(get_reader(entry.format or "", entry.options).read(str(path), ctx))
            rejects += ctx.rejects
        return documents, rejects

    return get


def test_every_split_of_these_corpora_is_checked(validated) -> None:
    assert set(validated) == set(EXPECTED)


@pytest.mark.parametrize(("name", "split"), sorted(EXPECTED))
def test_counts_match_source(validated, name: str, split: str) -> None:
    row = validated[(name, split)]
    expected = EXPECTED[(name, split)]
    assert {key: row.get(key, 0) for key in expected} == expected
    for key in REJECT_KEYS:  # no reject the table does not expect
        assert row.get(key, 0) == expected.get(key, 0), key
    assert row["records_read"] == row["documents"] + row["rejected"]
    assert row["examples"] > 0 and row["no_examples_reason"] is None


def test_ppi_xml_bare_cr_file_and_sentence_offsets(read, shared_datasets) -> None:
    raw = (shared_datasets / "iepa" / "IEPA-train.xml").read_bytes()
    assert b"\r" in raw and b"\n" not in raw  # classic-Mac line ends, read all the same
    docs, rejects = read("iepa", "train")
    assert rejects == []
    first = docs[0]
    assert first.document_id == "IEPA.d0" and first.text.startswith("Oxytocin stimulates IP3")
    assert [(e.type, e.text) for e in first.entities] == [("protein", ["Oxytocin"]), ("protein", ["IP3"])]
    # a later sentence's entity: offsets are sentence-relative in the file, document-relative here
    multi = next(d for d in docs if len(d.passages) > 1)
    last = multi.passages[-1].offsets[0][0]
    assert any(e.offsets[0][0] >= last for e in multi.entities)
    for doc in docs:
        for entity in doc.entities:
            assert [doc.text[a:b] for a, b in entity.offsets] == entity.text


def test_bioinfer_discontinuous_entity_keeps_its_fragments(read) -> None:
    docs, _ = read("bioinfer", "train")
    entity = next(e for d in docs if d.document_id == "BioInfer.d1" for e in d.entities
                  if e.id == "BioInfer.d1.s1.e2")
    assert entity.text == ["muscle", "actin"] and entity.type == "Individual_protein"
    assert entity.offsets[0][1] < entity.offsets[1][0]


def test_hprd50_type_attribute_is_a_list_of_ids(read) -> None:
    docs, _ = read("hprd50", "train")
    entities = [e for d in docs for e in d.entities]
    assert {e.type for e in entities} == {"protein"}
    ids = [n.db_id for e in entities for n in e.normalized]
    assert "phospho-pm0110467" in ids and all("||" not in i for i in ids)
    assert any(len(e.normalized) > 1 for e in entities)


def test_genetag_token_indices_and_alternatives(read, shared_datasets) -> None:
    docs, rejects = read("genetag", "train")
    first = next(d for d in docs if d.document_id == "95229799480")
    gold = [e for e in first.entities if e.text == ["foetal fibronectin"]]
    assert len(gold) == 1  # `|1 2|`: tokens 1 to 2, end inclusive
    assert first.text.split(" ")[1:3] == ["foetal", "fibronectin"]
    assert gold[0].attributes["alternatives"]  # Correct.Data's `|2 2|fibronectin` is an accepted boundary
    creb = [r for r in rejects if "CREB / ATF proteins" in r.reason]
    assert len(creb) == 1 and creb[0].action == "dropped" and creb[0].line and creb[0].record_id == "114355783451"
    for split, lines in (("train", 1457), ("test", 714), ("round1", 760)):
        docs, rejects = read("genetag", split)
        attached = sum(d.stats.get("alternatives", 0) for d in docs)
        alt_drops = [r for r in rejects if r.field == "alternatives" or "S7 .3" in r.reason]
        assert attached + len(alt_drops) == lines, split  # every Correct.Data line is attached or reported
    _, rejects = read("genetag", "test")
    (repaired,) = [r for r in rejects if r.action == "repaired"]
    assert "class II- " in repaired.reason


def test_osiris_inline_mentions_get_offsets_and_ids(read) -> None:
    docs, rejects = read("osiris", "train")
    first = docs[0]
    assert first.document_id == "12890863"
    assert first.text.startswith("The effect of transforming growth factor beta1 gene polymorphisms")
    genes = [e for e in first.entities if e.type == "Gene"]
    assert genes[0].text == ["transforming growth factor beta1"]
    assert [(n.db_name, n.db_id) for n in genes[0].normalized] == [("NCBIGene", "7040")]
    variants = [e for d in docs for e in d.entities if e.type == "Variant"]
    assert len(variants) == 563
    no_dbsnp = [v for v in variants if not any(n.db_name == "dbSNP" for n in v.normalized)]
    assert len(no_dbsnp) == 302  # v_id="No"
    assert all(r.action == "repaired" and "surrounding white space" in r.reason for r in rejects)
    assert all(e.text[0] == e.text[0].strip() for d in docs for e in d.entities)


def test_paramed_lines_pair_up_and_moses_escapes_are_undone(read, shared_datasets) -> None:
    docs, rejects = read("paramed", "dev")
    assert rejects == [] and set(docs[0].texts) == {"en", "zh"}
    assert docs[0].texts["zh"].startswith("二次 肿瘤 细胞")
    assert "platinum-sensitive" in docs[0].texts["en"]
    assert not any("@-@" in d.texts["en"] for d in docs)
    last_zh = (shared_datasets / "paramed" / "nejm.dev.zh").read_text(encoding="utf-8").splitlines()[-1]
    assert docs[-1].texts["zh"] == last_zh.strip()


def test_liveqa_reads_both_answer_tags(read) -> None:
    docs, rejects = read("liveqa", "test")
    assert rejects == []
    tq1 = next(d for d in docs if d.document_id == "TQ1")
    assert len(tq1.answer) == 3  # TQ1 uses <RefAnswer>, the others <ReferenceAnswer>
    assert tq1.question == "Noonan syndrome\nWhat are the references with noonan syndrome and polycystic renal disease"
    assert all("\t" not in a and a == a.strip() for d in docs for a in d.answer)


def test_liveqa_summaries_pair_each_question_with_its_summary(read) -> None:
    docs, rejects = read("liveqa_summaries", "test")
    assert rejects == [] and {d.subtask for d in docs} == {"summary"}
    tq1 = next(d for d in docs if d.document_id == "TQ1")
    assert tq1.output == "What is the relationship between Noonan syndrome and polycystic renal disease?"
    assert all(d.output == d.output.strip() for d in docs)


def test_mediqa_rqe_training_pairs_carry_their_labels(read) -> None:
    docs, _ = read("mediqa_rqe_amia2016", "train")
    assert sorted((label, sum(d.label == label for d in docs)) for label in ("true", "false")) == [
        ("false", 1854), ("true", 2145)]


def test_empty_ann_files_are_documents_without_entities(read) -> None:
    for split, empty in (("train", 86), ("dev", 37), ("test", 52)):
        docs, rejects = read("anat_em", split)
        assert sum(not d.entities for d in docs) == empty and rejects == [], split
    docs, _ = read("verspoor_2013", "train")
    assert sum(not d.entities for d in docs) == 3


def test_seth_texts_from_one_file_and_its_quirks(read, shared_datasets) -> None:
    docs, rejects = read("seth_corpus", "train")
    line = (shared_datasets / "seth_corpus" / "corpus.txt").read_text(encoding="utf-8").splitlines()[0]
    pmid, _, text = line.partition("\t")
    assert (docs[0].document_id, docs[0].text) == (pmid, text)
    assert len(rejects) == 7 and {r.record_id for r in rejects} == {"11058905"}
    assert all(r.action == "dropped" and "has no arguments" in r.reason for r in rejects)
    assert {r.type for d in docs for r in d.relations} == {"AssociatedTo", "Equals"}


def test_verspoor_opaque_ids(read) -> None:
    docs, rejects = read("verspoor_2013", "train")
    ids = {e.id for d in docs for e in d.entities} | {r.id for d in docs for r in d.relations}
    assert {"T2_cancer", "T57_2"} <= ids and any(i.startswith("R") and "_" in i for i in ids)
    assert rejects == []


def test_bionlp_st_2011_ge_a2_continues_a1_and_test_has_no_a2(read) -> None:
    docs, rejects = read("bionlp_st_2011_ge", "train")
    assert rejects == []
    doc = next(d for d in docs if d.events)
    proteins = {e.id for e in doc.entities if e.type == "Protein"}
    themes = {a.ref_id for ev in doc.events for a in ev.arguments if a.role == "Theme" and a.ref_id}
    assert themes & proteins  # events of the .a2 refer to the .a1's proteins by their shared ids
    assert any(ev.attributes for d in docs for ev in d.events)  # Negation / Speculation
    test_docs, test_rejects = read("bionlp_st_2011_ge", "test")
    assert test_rejects == [] and not any(d.events for d in test_docs)
    assert {e.type for d in test_docs for e in d.entities} == {"Protein"}


def test_tmvar_ragged_rows(read) -> None:
    docs, rejects = read("tmvar_v2", "train")
    by_line = {r.line: r for r in rejects}
    assert set(by_line) == {120, 691}
    assert by_line[120].reason == "unknown entity type 'p|SUB|P|29|S'" and by_line[120].record_id == "18166824"
    assert "3 tab-separated columns" in by_line[691].reason and by_line[691].record_id == "21615796"
    first = next(e for e in docs[0].entities if e.text == ["Ex2+860G>C"])
    assert [(n.db_name, n.db_id) for n in first.normalized] == [("RSID", "2234671")]
