"""Catalog checks that belong to the readers: the Taiyi catalog of 140 datasets, and errors that name the key.

A missing file or an unknown reader stops loading before any work, with the file, key and fix in the message.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from curate.catalog import load_catalog
from curate.errors import CatalogError
from curate.readers import reader_names

TAIYI = REPO / "catalogs" / "taiyi.yaml"


def test_taiyi_catalog_lists_140_datasets() -> None:
    catalog = load_catalog(TAIYI)
    taiyi = [d for d in catalog.datasets if "taiyi" in d.tags]
    assert len(taiyi) == 140
    assert Counter(d.language for d in taiyi) == {"en": 102, "zh": 38}
    assert all(f"taiyi-{d.language}" in d.tags and not d.files for d in taiyi)
    assert all(d.format is None or d.format in reader_names() for d in taiyi)
    assert all(d.license and d.homepage and d.native_format and d.sizes and d.description for d in taiyi)
    names = {d.name for d in taiyi}
    assert {"kuake_ir", "imcs_v2_sr", "medqa_zh", "med_qa"} <= names
    assert not any(n.startswith("demo") for n in names)
    assert "IMCS-V2-SR" in catalog.dataset("kuake_ir").description


def test_taiyi_catalog_can_be_included(tmp_path: Path) -> None:
    main = tmp_path / "catalog.yaml"
    main.write_text(yaml.safe_dump({"include": [str(TAIYI)], "datasets": []}), encoding="utf-8")
    catalog = load_catalog(main)
    assert len(catalog.datasets) == 140 and not any(catalog.available(d) for d in catalog.datasets)


def _write(tmp_path: Path, entry: dict) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump({"datasets": [entry]}), encoding="utf-8")
    return path


def test_missing_file_names_the_key(tmp_path: Path) -> None:
    path = _write(tmp_path, {"name": "x", "language": "en", "tasks": ["ner"], "format": "pubtator",
                             "files": {"dev": "nowhere.txt"}})
    with pytest.raises(CatalogError) as err:
        load_catalog(path)
    assert err.value.key == "datasets[0] (x).files.dev" and "nowhere.txt" in err.value.problem


def test_missing_archive_member_names_the_key(tmp_path: Path) -> None:
    archive = REPO / "tests" / "data" / "readers" / "archives" / "corpus.zip"
    ok = _write(tmp_path, {"name": "x", "language": "en", "tasks": ["ner"], "format": "pubtator",
                           "files": {"dev": f"{archive}!corpus/train.PubTator.txt"}})
    assert load_catalog(ok).datasets[0].name == "x"
    bad = _write(tmp_path, {"name": "x", "language": "en", "tasks": ["ner"], "format": "pubtator",
                            "files": {"dev": f"{archive}!corpus/missing.txt"}})
    with pytest.raises(CatalogError, match="file not found"):
        load_catalog(bad)


def test_unknown_reader_and_bad_options_name_the_key(tmp_path: Path) -> None:
    path = _write(tmp_path, {"name": "x", "language": "en", "tasks": ["ner"], "format": "brat"})
    with pytest.raises(CatalogError) as err:
        load_catalog(path)
    assert err.value.key == "datasets[0] (x).format" and "unknown reader 'brat'" in err.value.problem
    assert "standoff" in err.value.fix
    path = _write(tmp_path, {"name": "x", "language": "en", "tasks": ["ner"], "format": "conll",
                             "options": {"scheme": "iob3"}})
    with pytest.raises(CatalogError) as err:
        load_catalog(path)
    assert err.value.key == "datasets[0] (x).options" and err.value.problem.startswith("scheme:")
