"""`curate validate --json` on real corpora: exact published counts, duplicates kept, quirks reported."""

import json

import pytest
from typer.testing import CliRunner

from curate.cli import app


@pytest.fixture(scope="module")
def validated(shared_catalog_path):
    result = CliRunner().invoke(app, ["validate", "--catalog", str(shared_catalog_path),
                                      "--dataset", "ncbi_disease", "--dataset", "bc5cdr", "--dataset", "cmeee",
                                      "--json"])
    assert result.exit_code == 0, result.output
    return {(r["dataset"], r["split"]): r for r in json.loads(result.output)}


@pytest.mark.parametrize(("dataset", "split", "documents", "entities", "relations"), [
    ("ncbi_disease", "train", 593, 5145, 0),
    ("ncbi_disease", "dev", 100, 787, 0),
    ("ncbi_disease", "test", 100, 960, 0),
    ("bc5cdr", "train", 878, 16730, 1836),
    ("bc5cdr", "dev", 500, 9591, 1012),
    ("bc5cdr", "test", 500, 9809, 1066),
    ("cmeee", "dev", 2444, 12397, 0),
])
def test_published_counts(validated, dataset, split, documents, entities, relations):
    row = validated[(dataset, split)]
    assert (row["documents"], row["entities"], row["relations"]) == (documents, entities, relations)
    assert {"dataset", "split", "documents", "entities", "relations", "examples", "rejected"} <= set(row)
    assert row["rejected"] == 0
    assert row["examples"] > 0


def test_duplicate_pmid_read_twice_with_distinct_ids(repo, shared_datasets):
    from curate.readers import ReadContext, get_reader

    path = shared_datasets / "ncbi_disease/NCBItrainset_corpus.txt"
    ctx = ReadContext("ncbi_disease", "train", str(path))
    docs = [d for d in get_reader("pubtator").read(str(path), ctx) if d.document_id == "8528200"]
    assert len(docs) == 2
    assert docs[0].id != docs[1].id


def test_mismatched_mention_is_reported_not_dropped(validated, repo, shared_datasets):
    from curate.readers import ReadContext, get_reader

    path = shared_datasets / "ncbi_disease/NCBItrainset_corpus.txt"
    ctx = ReadContext("ncbi_disease", "train", str(path))
    docs = {d.id: d for d in get_reader("pubtator").read(str(path), ctx)}
    (reject,) = ctx.rejects
    assert (reject.record_id, reject.line, reject.field, reject.action) == ("10923035", 3249, "text", "repaired")
    assert "plus" in reject.reason
    kept = [e for e in docs["10923035"].entities if e.offsets == [(711, 761)]]
    assert kept and kept[0].mention == 'generalized epilepsy and febrile seizures " plus "'
    assert validated[("ncbi_disease", "train")]["annotations_repaired"] == 1
