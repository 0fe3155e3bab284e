"""parse(render(gold)) == gold on every example of every dataset a build reads: the demo catalog and
every corpus of the shared test catalog (../shared/datasets), in both prompt languages and every format.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from roundtrip_util import ROOT, SHARED_CATALOG, round_trip_failures

from curate.catalog import load_catalog
from curate.templates import load_templates

LIBRARY = load_templates(ROOT / "instruction_templates")
DEMO = load_catalog(ROOT / "catalog.yaml")
SHARED_NAMES = [d["name"] for d in yaml.safe_load(SHARED_CATALOG.read_text(encoding="utf-8"))["datasets"]]
# shared corpora whose files hold no text: every record is a named reject (counts in test_shared_corpora_tabular.py)
NO_TEXT = {"bc7_litcovid": "LitCovid's label-format samples have no title or abstract"}


@pytest.mark.parametrize("name", [e.name for e in DEMO.datasets if DEMO.available(e)])
def test_round_trip_on_demo_dataset(name: str) -> None:
    checked, failed, shown = round_trip_failures(DEMO, DEMO.dataset(name), LIBRARY)
    assert checked > 0, f"{name}: no examples read"
    assert failed == 0, "\n".join(shown)


@pytest.mark.parametrize("name", SHARED_NAMES)
def test_round_trip_on_shared_dataset(name: str, shared_catalog_path: Path) -> None:
    catalog = load_catalog(shared_catalog_path, check_files=False)
    entry = catalog.dataset(name)
    assert catalog.available(entry), f"{name}: corpus files missing under the shared datasets"
    checked, failed, shown = round_trip_failures(catalog, entry, LIBRARY)
    if not set(entry.tasks) & {"ner", "nen", "re", "ee", "tc", "tp", "qa", "dialogue", "mt", "t2t"}:
        pytest.skip(f"{name}: no task with an answer format")
    if name in NO_TEXT:
        assert checked == 0, f"{name}: examples read from a corpus without text"
        pytest.skip(f"{name}: {NO_TEXT[name]}")
    assert checked > 0, f"{name}: no examples read"
    assert failed == 0, "\n".join(shown)
