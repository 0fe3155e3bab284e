"""The JSON and tabular corpora of ../shared (issue 11, part A) read exactly as their SOURCE.md counts them.

Every entry is YAML only (tests/catalogs/shared.yaml); the numbers are the record, triple and node counts of
each SOURCE.md. Content checks pin the quirks SOURCE.md lists: a GBK file next to a UTF-8 one, a U+FEFF
inside a JSON string, quoted commas in CRLF CSV, a headerless CSV whose text starts with a space, an XLSX
sheet, CSV annotations joined with prompts and article texts, graded scores binned into labels.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from curate.catalog import Catalog
from curate.readers import ReadContext, get_reader
from curate.readers.mapping import SourceOptions, iter_records

EXPECTED: dict[tuple[str, str], dict[str, int]] = {
    ("bentsao_llamadata", "train"): {"documents": 4131},
    # 2,310 <user>: and 1,310 <bot>: markers, plus each record's output as the last assistant turn
    ("bentsao_livercacer", "train"): {"documents": 1000, "turns": 4620},
    ("text2dt", "train"): {"documents": 300, "relations": 1945, "tree_nodes": 1398, "condition_nodes": 549,
                           "decision_nodes": 849},
    ("text2dt", "dev"): {"documents": 100, "relations": 685, "tree_nodes": 472, "condition_nodes": 186,
                         "decision_nodes": 286},
    # 609 triples; the one whose argument is not in the text (SOURCE.md: triple_args_not_in_text 1) is dropped
    ("text2dt", "test"): {"documents": 100, "relations": 608, "tree_nodes": 498, "condition_nodes": 199,
                          "decision_nodes": 299, "annotations_dropped": 1},
    ("xywy_disease", "train"): {"documents": 100, "files_decoded_as_gb18030": 1},
    ("xywy_disease", "excerpt"): {"documents": 20},
    ("tcm_sd_tc", "train"): {"documents": 5},
    ("tcm_sd_mrc", "train"): {"documents": 5},
    ("tcm_sd_knowledge", "train"): {"documents": 5},
    ("kuake_qtr", "train"): {"documents": 3837},
    ("kuake_qtr", "dev"): {"documents": 2913},
    ("kuake_qtr", "test"): {"documents": 3273, "unlabeled": 3273},
    ("chip_cdn", "train"): {"documents": 5270},
    ("chip_cdn", "dev"): {"documents": 2000},
    ("chip_cdn", "test"): {"documents": 9748},
    ("covid_similarity", "train"): {"documents": 8747},
    ("covid_similarity", "dev"): {"documents": 2002},
    ("covid_similarity", "test"): {"documents": 5, "unlabeled": 5},
    ("geokhoj_v1", "train"): {"documents": 4333},
    ("geokhoj_v1", "test"): {"documents": 3251},
    # 181 annotation rows of 35 articles, split by the ev2 article lists (12/12/11 articles)
    ("evidence_inference", "train"): {"documents": 52, "not_listed": 129},
    ("evidence_inference", "dev"): {"documents": 63, "not_listed": 118},
    ("evidence_inference", "test"): {"documents": 66, "not_listed": 115},
    ("meqsum", "train"): {"documents": 1000},
    ("bio_simlex", "train"): {"documents": 988},
    ("umnsrs_sim", "train"): {"documents": 566},
    ("umnsrs_rel", "train"): {"documents": 587},
    ("mayosrs", "train"): {"documents": 101},
    ("minimayosrs", "train"): {"documents": 29},
    ("meddg_topics", "train"): {"documents": 160},  # the file name says 160 topics
    # label-format samples without text (SOURCE.md: 2,551 rows): every row read, every row a named reject
    ("bc7_litcovid", "train"): {"documents": 0, "records_read": 2551, "rejected": 2551},
}
DATASETS = sorted({name for name, _ in EXPECTED})
REJECT_KEYS = ("rejected", "annotations_dropped", "annotations_repaired")


@pytest.fixture(scope="module")
def validated(shared_validation: dict[tuple[str, str], dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {key: row for key, row in shared_validation.items() if key[0] in DATASETS}


@pytest.fixture(scope="module")
def docs(shared_catalog: Catalog):
    """docs(name, split): the documents of one split, read through its catalog entry."""

    @cache
    def get(name: str, split: str) -> list[Any]:
        entry = shared_catalog.dataset(name)
        reader = get_reader(entry.format or "", entry.options)
        out: list[Any] = []
        for path in shared_catalog.resolve_files(entry, split):
            ctx = ReadContext(name, split, str(path), entry.language, frozenset(entry.labels))
            out += reader.read(str(path), ctx)
        return out

    return get


@pytest.mark.parametrize(("name", "split"), sorted(EXPECTED))
def test_counts_match_source_md(validated, name: str, split: str) -> None:
    row = validated[(name, split)]
    expected = EXPECTED[(name, split)]
    assert {key: row.get(key, 0) for key in expected} == expected
    for key in REJECT_KEYS:
        assert row.get(key, 0) == expected.get(key, 0), key


def test_every_split_of_these_corpora_is_checked(validated) -> None:
    assert set(validated) == set(EXPECTED)


def test_gbk_file_reads_as_the_utf8_excerpt(docs) -> None:
    gbk, utf8 = docs("xywy_disease", "train"), docs("xywy_disease", "excerpt")
    assert [(d.id, d.input, d.output) for d in gbk[:20]] == [(d.id, d.input, d.output) for d in utf8]
    assert len(gbk[0].id) == 24 and gbk[0].input == "肺泡蛋白质沉积症"


def test_feff_inside_a_json_string_is_data(docs) -> None:
    inputs = [d.input for d in docs("chip_cdn", "train")]
    assert sum("\ufeff" in text for text in inputs) == 1
    test = docs("chip_cdn", "test")
    assert test[0].input.startswith("\ufeff") and {d.output for d in test} == {""}
    outputs = [d.output for d in docs("chip_cdn", "train")]
    assert sum(o.count("；") + 1 for o in outputs) == 9590  # targets_total: '##' separated terms


def test_quoted_commas_and_headerless_csv(docs) -> None:
    pairs = docs("covid_similarity", "train")
    assert sum("," in d.text_1 + d.text_2 for d in pairs) > 0
    assert {d.label for d in pairs} == {"0", "1"} and sum(d.label == "1" for d in pairs) == 3497
    geo = docs("geokhoj_v1", "train")
    assert docs("geokhoj_v1", "test")[0].id == "GSM1820602" and not any(d.text.startswith(" ") for d in geo)
    assert sum(d.labels == ["0"] for d in geo) == 878


def test_xlsx_sheet_keeps_multiline_cells(docs) -> None:
    pairs = docs("meqsum", "train")
    assert sum("\n" in d.input for d in pairs) == 817
    assert sum(d.input.startswith("SUBJECT:") for d in pairs) == 653


def test_evidence_inference_joins_prompts_and_articles(docs) -> None:
    rows = [d for split in ("train", "dev", "test") for d in docs("evidence_inference", split)]
    assert len(rows) == 181
    answers = [d.answer[0] for d in rows]
    assert {a: answers.count(a) for a in set(answers)} == {
        "no significant difference": 87, "significantly decreased": 48, "significantly increased": 46}
    assert all(d.question.startswith("With respect to ") and " compare with " in d.question for d in rows)


def test_evidence_offsets_point_into_the_joined_article(shared_catalog: Catalog) -> None:
    """SOURCE.md: text[start:end] == Annotations (end-exclusive) for every kept row, in the joined article."""
    entry = shared_catalog.dataset("evidence_inference")
    opts = SourceOptions(**{k: v for k, v in entry.options.items() if k in SourceOptions.model_fields})
    checked = 0
    for split in ("train", "dev", "test"):
        (path,) = shared_catalog.resolve_files(entry, split)
        ctx = ReadContext("evidence_inference", split, str(path))
        for _, _, row in iter_records(str(path), ctx, opts):
            start, end = int(row["Evidence Start"]), int(row["Evidence End"])
            assert row["article"][start:end] == row["Annotations"]
            assert row["prompt"]["PMCID"] == row["PMCID"]
            checked += 1
        assert ctx.rejects == []
    assert checked == 181


def test_similarity_scores_are_binned(docs) -> None:
    labels = [d.label for d in docs("bio_simlex", "train")]
    assert set(labels) == {"dissimilar", "somewhat_similar", "similar", "very_similar"}
    first = docs("mayosrs", "train")[0]
    assert (first.text_1, first.text_2, first.label) == ("difficulty walking", "antalgic gait", "related")


def test_text2dt_relations_use_the_six_predicates(docs) -> None:
    types = {r.type for d in docs("text2dt", "train") for r in d.relations}
    assert types == {"临床表现", "治疗药物", "用法用量", "治疗方案", "禁用药物", "基本情况"}
    doc = docs("text2dt", "train")[0]
    for rel in doc.relations:
        head = doc.entity(rel.arg1_id)
        assert doc.text[head.offsets[0][0]:head.offsets[0][1]] == head.text[0]


def test_livercacer_mixed_schema_ids(docs) -> None:
    records = docs("bentsao_livercacer", "train")
    ids = [d.document_id for d in records]
    assert sum(not i.startswith("liver_cancer:#") for i in ids) == 211  # 211 of 1,000 objects carry an id
    assert len(set(ids)) == 970 and len({d.id for d in records}) == 1000  # repeated source ids get a ~N suffix
    roles = [t.role for d in records for t in d.turns]
    assert roles.count("user") == roles.count("assistant") == 2310


def test_meddg_topics_are_plain_containers(docs) -> None:
    topics = docs("meddg_topics", "train")
    assert len({d.text for d in topics}) == 160 and all(d.labels[0].isdigit() for d in topics)


def test_litcovid_label_samples_are_rejects_that_say_why(validated) -> None:
    """bc7_litcovid ships label samples only: each row is read and named as a reject for its missing text."""
    row = validated[("bc7_litcovid", "train")]
    assert [(r["field"], r["count"]) for r in row["reject_reasons"]] == [("text", 2551)]
    assert "title, abstract" in row["reject_reasons"][0]["example"]["reason"]
    assert "all 2551 records were rejected" in row["no_examples"]["tc"]
