"""parse(render(gold)) == gold on every example of every dataset a build reads: the demo catalog and
every corpus of the shared test catalog (../shared/datasets), in both prompt languages and every format.
"""

from __future__ import annotations

import pytest

from curate.catalog import load_catalog
from curate.templates import load_templates
from tests.roundtrip_util import ROOT, SHARED_CATALOG, round_trip_failures

LIBRARY = load_templates(ROOT / "instruction_templates")
DEMO = load_catalog(ROOT / "catalog.yaml")
SHARED = load_catalog(SHARED_CATALOG, check_files=False) if SHARED_CATALOG.exists() else None
SHARED_ENTRIES = [e for e in SHARED.datasets if SHARED.available(e)] if SHARED else []


@pytest.mark.parametrize("name", [e.name for e in DEMO.datasets])
def test_round_trip_on_demo_dataset(name: str) -> None:
    checked, failed, shown = round_trip_failures(DEMO, DEMO.dataset(name), LIBRARY)
    assert checked > 0, f"{name}: no examples read"
    assert failed == 0, "\n".join(shown)


@pytest.mark.skipif(SHARED is None, reason="tests/catalogs/shared.yaml is not in this checkout")
@pytest.mark.parametrize("name", [e.name for e in SHARED_ENTRIES])
def test_round_trip_on_shared_dataset(name: str) -> None:
    assert SHARED is not None
    checked, failed, shown = round_trip_failures(SHARED, SHARED.dataset(name), LIBRARY)
    assert checked > 0, f"{name}: no examples read"
    assert failed == 0, "\n".join(shown)


def test_shared_catalog_covers_the_corpora_curate_reads() -> None:
    if SHARED is None:
        pytest.skip("no shared catalog")
    # the readers' fallback trio must be there whatever else the catalog holds
    assert {"ncbi_disease", "bc5cdr", "cmeee"} <= {e.name for e in SHARED_ENTRIES}
