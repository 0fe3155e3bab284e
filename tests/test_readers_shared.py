"""Every shared corpus read through tests/catalogs/shared.yaml gives exactly the published counts.

The numbers come from each corpus's SOURCE.md (and issues 2 and 3); a reader change that loses or invents
an annotation on real data fails here.
"""

from __future__ import annotations

from functools import cache

import pytest

from curate.catalog import Catalog
from curate.reading import SplitResult, read_split

EXPECTED: dict[tuple[str, str], dict[str, int]] = {
    ("ncbi_disease", "train"): {"documents": 593, "entities": 5145, "rejects_repaired": 1},
    ("ncbi_disease", "dev"): {"documents": 100, "entities": 787},
    ("ncbi_disease", "test"): {"documents": 100, "entities": 960},
    ("bc5cdr", "train"): {"documents": 878, "entities": 16730, "relations": 1836},
    ("bc5cdr", "dev"): {"documents": 500, "entities": 9591, "relations": 1012},
    ("bc5cdr", "test"): {"documents": 500, "entities": 9809, "relations": 1066},
    ("cmeee", "dev"): {"documents": 2444, "entities": 12397},
    ("jnlpba", "dev"): {"documents": 3856, "entities": 8662},
    ("bionlp_st2013_cg", "dev"): {"documents": 100, "entities": 3634, "events": 2915, "coreferences": 175,
                                  "rejects_dropped": 8},
    ("ddi", "test"): {"documents": 191, "entities": 3040, "relations": 979, "candidate_pairs": 5716,
                      "negative_pairs": 4737},
    ("chemprot", "dev"): {"documents": 66, "entities": 1890, "relations": 475},
    ("drugprot", "dev"): {"documents": 750, "entities": 18858, "relations": 3761},
    ("hoc", "train"): {"documents": 500},
    ("pubmedqa", "train"): {"documents": 394},
    ("pubmedqa", "test"): {"documents": 381},
    ("medqa_usmle", "test"): {"documents": 1231},
    ("cmeie", "dev"): {"documents": 2540, "relations": 7532},
    ("kuake_qqr", "train"): {"documents": 15000},
    ("kuake_qqr", "dev"): {"documents": 1599, "rejects_rejected": 1},
    ("kuake_qqr", "test"): {"documents": 1596, "unlabeled": 1596},
    ("kuake_qic", "test"): {"documents": 100},
    ("chip_ctc", "dev"): {"documents": 1000},
    ("chip_mdcfnpc", "train"): {"documents": 9, "entities": 226},
    ("imcs21_dac", "dev"): {"documents": 19592},
    ("gad", "train"): {"documents": 4796},
    ("gad", "test"): {"documents": 534},
    ("euadr", "train"): {"documents": 318},
    ("euadr", "test"): {"documents": 37},
    ("mediqa_rqe", "dev"): {"documents": 302},
    ("mediqa_rqe", "test"): {"documents": 230},
    ("mediqa_qa", "dev"): {"documents": 25},
    ("bioasq_6b", "test"): {"documents": 100},
    ("meddialog_cn_huatuo", "test"): {"documents": 100},
    ("chinese_medical_dialogue", "train"): {"documents": 4421},
    ("cmedqa", "dev"): {"documents": 805, "filtered": 3711},
}
REJECT_KEYS = ("rejects_rejected", "rejects_dropped", "rejects_repaired")


@pytest.fixture(scope="module")
def result(shared_catalog: Catalog):
    @cache
    def get(name: str, split: str) -> SplitResult:
        return read_split(shared_catalog, shared_catalog.dataset(name), split)

    return get


@pytest.mark.parametrize(("name", "split"), sorted(EXPECTED))
def test_counts_are_exact(result, name: str, split: str) -> None:
    counts = result(name, split).counts
    expected = EXPECTED[(name, split)]
    got = {key: counts.get(key, 0) for key in expected}
    assert got == expected
    for key in REJECT_KEYS:  # no reject that the table does not expect
        assert counts.get(key, 0) == expected.get(key, 0), (key, result(name, split).rejects[:3])


def test_every_shared_split_is_checked(shared_catalog: Catalog) -> None:
    listed = {(d.name, s) for d in shared_catalog.datasets for s in d.files}
    samples = {key for key in listed if key[0].endswith("_readme_sample")}
    assert listed - samples == set(EXPECTED)


def test_readme_samples_read_three_records_each(result, shared_catalog: Catalog) -> None:
    for entry in shared_catalog.datasets:
        if entry.name.endswith("_readme_sample"):
            r = result(entry.name, "dev")
            assert (r.counts["documents"], r.rejects) == (3, []), entry.name


def test_pubmedqa_splits_partition_the_775_questions(result) -> None:
    train, test = result("pubmedqa", "train").documents, result("pubmedqa", "test").documents
    assert len(train) + len(test) == 775
    assert not {d.document_id for d in train} & {d.document_id for d in test}
    assert {d.answer[0] for d in train + test} == {"yes", "no", "maybe"}


def test_kuake_qqr_na_label_is_rejected_by_name(result) -> None:
    (reject,) = result("kuake_qqr", "dev").rejects
    assert (reject.action, reject.field, reject.reason) == ("rejected", "label", "unknown label 'NA'")
    assert reject.record_id and reject.file.endswith("KUAKE-QQR_dev.json")


def test_kuake_qqr_test_is_unlabeled(result) -> None:
    assert {d.label for d in result("kuake_qqr", "test").documents} == {""}
    assert {d.label for d in result("kuake_qqr", "train").documents} == {"0", "1", "2"}


def test_ddi_discontinuous_entities_keep_their_fragments(result) -> None:
    docs = result("ddi", "test").documents
    split = [e for d in docs for e in d.entities if len(e.offsets) > 1]
    assert len(split) == 9
    for doc in docs:
        for entity in doc.entities:
            assert [doc.text[a:b] for a, b in entity.offsets] == entity.text
    types = {r.type for d in docs for r in d.relations}
    assert types == {"mechanism", "effect", "advise", "int"}


def test_cg_secondary_arguments_are_inline_with_offsets(result) -> None:
    docs = result("bionlp_st2013_cg", "dev").documents
    inline = [a for d in docs for e in d.events for a in e.arguments if a.offsets]
    assert len(inline) >= 20 and all(not a.ref_id for a in inline)
    assert {a.role for a in inline} <= {"Site", "CSite", "AtLoc", "FromLoc", "ToLoc"}
    modified = [e for d in docs for e in d.events if e.attributes]
    assert len(modified) == 213  # 214 M lines, one event is both negated and speculated


def test_cmeie_arguments_are_found_in_the_text(result) -> None:
    docs = result("cmeie", "dev").documents
    for doc in docs[:200]:
        for rel in doc.relations:
            assert doc.entity(rel.arg1_id).text[0] in doc.text


def test_hoc_keeps_top_level_hallmarks(result) -> None:
    labels = {lab for d in result("hoc", "train").documents for lab in d.labels}
    assert len(labels) == 10 and not any("--" in lab for lab in labels)


def test_shared_labels_have_both_languages(shared_catalog: Catalog) -> None:
    for entry in shared_catalog.datasets:
        for raw, name in entry.labels.items():
            assert name.en.strip() and name.zh.strip(), (entry.name, raw)
