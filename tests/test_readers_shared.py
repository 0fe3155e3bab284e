"""`curate validate` on tests/catalogs/shared.yaml reports exactly the published counts of every shared corpus.

The numbers come from each corpus's SOURCE.md (and issues 2 and 3); a reader change that loses or invents
an annotation on real data fails here. Content checks read the documents through the same catalog entries.
"""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from curate.catalog import Catalog
from curate.readers import ReadContext, get_reader

EXPECTED: dict[tuple[str, str], dict[str, int]] = {
    ("ncbi_disease", "train"): {"documents": 593, "entities": 5145, "annotations_repaired": 1},
    ("ncbi_disease", "dev"): {"documents": 100, "entities": 787},
    ("ncbi_disease", "test"): {"documents": 100, "entities": 960},
    ("bc5cdr", "train"): {"documents": 878, "entities": 16730, "relations": 1836},
    ("bc5cdr", "dev"): {"documents": 500, "entities": 9591, "relations": 1012},
    ("bc5cdr", "test"): {"documents": 500, "entities": 9809, "relations": 1066},
    ("cmeee", "dev"): {"documents": 2444, "entities": 12397},
    ("jnlpba", "dev"): {"documents": 3856, "entities": 8662},
    ("bionlp_st2013_cg", "dev"): {"documents": 100, "entities": 3634, "events": 2915, "coreferences": 175,
                                  "annotations_dropped": 8},
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
    ("kuake_qqr", "dev"): {"documents": 1599, "rejected": 1},
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
REJECT_KEYS = ("rejected", "annotations_dropped", "annotations_repaired")


@pytest.fixture(scope="module")
def validated(shared_validation: dict[tuple[str, str], dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return shared_validation


class _Read:
    def __init__(self, documents: list[Any], rejects: list[Any]) -> None:
        self.documents, self.rejects = documents, rejects


@pytest.fixture(scope="module")
def result(shared_catalog: Catalog):
    """result(name, split): the documents and rejects of one split, read through its catalog entry."""

    @cache
    def get(name: str, split: str) -> _Read:
        entry = shared_catalog.dataset(name)
        reader = get_reader(entry.format or "", entry.options)
        documents, rejects = [], []
        for path in shared_catalog.resolve_files(entry, split):
            ctx = ReadContext(name, split, str(path), entry.language, frozenset(entry.labels))
            documents += reader.read(str(path), ctx)
            rejects += ctx.rejects
        return _Read(documents, rejects)

    return get


@pytest.mark.parametrize(("name", "split"), sorted(EXPECTED))
def test_validate_counts_are_exact(validated, name: str, split: str) -> None:
    row = validated[(name, split)]
    expected = EXPECTED[(name, split)]
    assert {key: row.get(key, 0) for key in expected} == expected
    for key in REJECT_KEYS:  # no reject that the table does not expect
        assert row.get(key, 0) == expected.get(key, 0), key


def _checked_elsewhere() -> set[tuple[str, str]]:
    """Splits whose counts a tests/test_shared_corpora_*.py module asserts (its own EXPECTED table)."""
    found: set[tuple[str, str]] = set()
    for path in sorted(Path(__file__).parent.glob("test_shared_corpora_*.py")):
        found |= set(importlib.import_module(path.stem).EXPECTED)
    return found


def test_every_shared_split_is_checked(validated) -> None:
    samples = {key for key in validated if key[0].endswith("_readme_sample")}
    assert set(validated) - samples == set(EXPECTED) | _checked_elsewhere()
    for key in samples:
        assert (validated[key]["documents"], validated[key]["rejected"]) == (3, 0), key


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
