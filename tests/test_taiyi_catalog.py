"""catalogs/taiyi.yaml describes each corpus we hold exactly as the verified shared test catalog reads it.

For every Taiyi entry of a corpus in ../shared/datasets, the reader (`format`), its `options`, the `native_format`
and the labels are those of the tests/catalogs/shared.yaml entry whose counts the shared-corpora tests assert; the
license and homepage come from SOURCE.md and the entry has a `source:`. Copying an entry and adding `files:` gives
the verified counts: that is what a user of the Taiyi catalog does.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO
from test_readers_shared import EXPECTED as EXPECTED_TEXT
from test_shared_corpora_tabular import EXPECTED as EXPECTED_TABULAR
from test_shared_corpora_text import EXPECTED as EXPECTED_FAMILIES

from curate.catalog import load_catalog
from curate.validate import validate_catalog

TAIYI = REPO / "catalogs" / "taiyi.yaml"
SHARED = REPO / "tests" / "catalogs" / "shared.yaml"
RELATIVE_SHARED = "../../../shared/datasets/"

# Taiyi entry -> the shared test catalog entry that reads the same corpus folder (and the files its source fetches)
SHARED_ENTRY: dict[str, str] = {
    "xywy_disease": "xywy_disease", "cmeee_v2": "cmeee", "chip_cdn": "chip_cdn",
    "chinese_medical_dialogue_data": "chinese_medical_dialogue", "bentsao_llamadata": "bentsao_llamadata",
    "bentsao_livercacer": "bentsao_livercacer", "cmeie_v2": "cmeie", "chip_ctc": "chip_ctc", "kuake_qic": "kuake_qic",
    "tcm_sd_tc": "tcm_sd_tc", "chip_mdcfnpc": "chip_mdcfnpc", "imcs_v2_dac": "imcs21_dac", "kuake_qqr": "kuake_qqr",
    "kuake_qtr": "kuake_qtr", "covid_similarity": "covid_similarity", "text2dt": "text2dt", "paramed": "paramed",
    "anat_em": "anat_em", "osiris": "osiris", "tmvar_v2": "tmvar_v2", "genetag": "genetag",
    "ncbi_disease": "ncbi_disease", "mediqa_qa": "mediqa_qa", "med_qa": "medqa_usmle",
    "evidence_inference": "evidence_inference", "liveqa": "liveqa", "pubmed_qa": "pubmedqa", "iepa": "iepa",
    "lll": "lll", "bc7_litcovid": "bc7_litcovid", "geokhoj_v1": "geokhoj_v1", "gad": "gad",
    "hallmarks_of_cancer": "hoc", "bio_simlex": "bio_simlex", "mayosrs": "mayosrs", "umnsrs": "umnsrs_sim",
    "mediqa_rqe": "mediqa_rqe_amia2016", "meqsum": "meqsum", "bionlp_st_2011_ge": "bionlp_st_2011_ge",
    "bionlp_st_2013_cg": "bionlp_st2013_cg", "bioinfer": "bioinfer", "ddi_corpus": "ddi", "hprd50": "hprd50",
    "euadr": "euadr", "seth_corpus": "seth_corpus", "verspoor_2013": "verspoor_2013", "jnlpba": "jnlpba",
    "drugprot": "drugprot", "bc5cdr": "bc5cdr",
}
# Taiyi entries of held folders whose Taiyi data we do not hold: no verified reader, and why (a YAML comment too)
NOT_DESCRIBED: dict[str, str] = {
    "meddg": "no format: only MedDG's topic vocabulary pickle is held (shared entry meddg_topics), not the\n"
             "dialogues Taiyi used.",
}
# comments under `tasks:` in the YAML: where Taiyi's task list differs from what the verified mapping yields, and
# where the held files cannot give Taiyi's data
TASK_NOTES: dict[str, str] = {
    "xywy_disease": "tasks are Taiyi's (MRD); the verified mapping reads each disease record as a t2t document\n"
                    "(name -> description), which yields no dialogue examples.",
    "chip_cdn": "tasks are Taiyi's (its table lists CHIP-CDN under NER); the verified mapping reads text ->\n"
                "normalized terms as t2t documents, which yield no ner examples.",
    "bentsao_llamadata": "tasks are Taiyi's (QA-sqa); the verified mapping reads instruction + input -> output as t2t\n"
                         "documents, which yield no qa examples.",
    "bentsao_livercacer": "tasks are Taiyi's (QA-sqa); the verified mapping reads each record as a dialogue, which\n"
                          "yields dialogue examples, not qa ones.",
    "text2dt": "tasks are Taiyi's (TT-ts); the verified reader gives entities, relations and the decision tree\n"
               "(ner, re), not t2t documents.",
    "euadr": "tasks are Taiyi's (NER, RE on the original EU-ADR corpus, not held); the held BioBERT copy is\n"
             "masked-sentence classification (tc), which yields no ner or re examples.",
    "bc7_litcovid": "the source fetches LitCovid's label-format samples (no text): validate reads every row as a\n"
                    "reject naming the missing title/abstract; the full Train/Dev/Test CSVs are not held.",
}
# entries copied with files: and validated; their shared entries' counts are the ones the shared tests assert
COPIED = ("ncbi_disease", "covid_similarity", "genetag")


@cache
def _datasets(path: Path) -> dict[str, dict[str, Any]]:
    """The catalog's entries by name, parsed once (tests copy an entry before changing it)."""
    return {entry["name"]: entry for entry in yaml.safe_load(path.read_text(encoding="utf-8"))["datasets"]}


def _held(shared_datasets: Path) -> dict[str, dict[str, Any]]:
    """The Taiyi entries whose upstream files are a corpus folder of ../shared/datasets."""
    held: dict[str, dict[str, Any]] = {}
    for name, entry in _datasets(TAIYI).items():
        locals_ = [f.get("local", "") for f in (entry.get("source") or {}).get("files", [])]
        folders = {local.split("/")[2] for local in locals_ if local.startswith("../data/")}
        if folders & {p.name for p in shared_datasets.iterdir()}:
            held[name] = entry
    return held


def test_every_held_taiyi_corpus_is_mapped(shared_datasets: Path) -> None:
    assert set(_held(shared_datasets)) == set(SHARED_ENTRY) | set(NOT_DESCRIBED)
    assert set(SHARED_ENTRY.values()) <= set(_datasets(SHARED))


@pytest.mark.parametrize("name", sorted(SHARED_ENTRY))
def test_entry_reads_as_the_shared_catalog_verifies(name: str) -> None:
    entry, shared = _datasets(TAIYI)[name], _datasets(SHARED)[SHARED_ENTRY[name]]
    assert entry["format"] == shared["format"]
    assert entry.get("options") == shared.get("options")
    assert entry["native_format"] == shared["native_format"]
    assert entry.get("labels") == shared.get("labels")
    assert entry["language"] == shared["language"]


@pytest.mark.parametrize("name", sorted(SHARED_ENTRY) + sorted(NOT_DESCRIBED))
def test_entry_says_nothing_unknown_that_source_md_verifies(name: str) -> None:
    entry = _datasets(TAIYI)[name]
    assert entry["source"]["files"], "no upstream source"
    assert entry["homepage"].startswith("https://"), entry["homepage"]
    assert entry["license"].strip().lower() not in ("", "unknown") and not entry["license"].startswith("unknown")
    for key in ("native_format", "license", "homepage"):
        assert "unverified" not in entry[key], key


def test_copied_entries_with_files_give_the_verified_counts(shared_datasets: Path, tmp_path: Path) -> None:
    """A user copies Taiyi entries, adds files: and gets, per split, the counts the shared tests assert."""
    taiyi, shared = _datasets(TAIYI), _datasets(SHARED)
    entries = []
    for name in COPIED:
        entry = dict(taiyi[name])
        entry.pop("source")
        files = shared[SHARED_ENTRY[name]]["files"]
        entry["files"] = {split: str(path).replace(RELATIVE_SHARED, f"{shared_datasets}/") for split, path in
                          files.items()}
        entries.append(entry)
    path = tmp_path / "catalog.yaml"
    catalog = {"templates": str(REPO / "instruction_templates"), "datasets": entries}  # validate renders too
    path.write_text(yaml.safe_dump(catalog, allow_unicode=True), encoding="utf-8")
    rows, notices = validate_catalog(load_catalog(path))
    assert notices == []
    got = {(row["dataset"], row["split"]): row for row in rows}
    expected_all = {**EXPECTED_TEXT, **EXPECTED_FAMILIES, **EXPECTED_TABULAR}
    checked = 0
    for name in COPIED:
        for split in shared[SHARED_ENTRY[name]]["files"]:
            expected = expected_all[(SHARED_ENTRY[name], split)]
            row = got[(name, split)]
            assert {key: row.get(key, 0) for key in expected} == expected, (name, split)
            checked += 1
    assert checked == len(got) == 3 + 3 + 3


def test_differences_are_explained_where_they_are_declared() -> None:
    """Each note stands as a comment under the entry's `tasks:`, so a reader of the YAML sees why."""
    text = TAIYI.read_text(encoding="utf-8")
    for name, note in {**TASK_NOTES, **NOT_DESCRIBED}.items():
        entry = text.split(f"\n- name: {name}\n", 1)[1].split("\n- name: ", 1)[0]
        comment = "".join(f"  # {line}\n" for line in note.splitlines())
        assert comment in entry.split("  format:", 1)[0].split("  native_format:", 1)[0], name
