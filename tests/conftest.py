"""Shared fixtures: where the real corpora are, the shared test catalog, and a reader runner for tiny files.

The real corpora live outside the project (``../shared/datasets``); they are located once here, and a
missing directory fails loudly instead of skipping tests.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from curate.catalog import Catalog, load_catalog
from curate.readers import ReadContext, get_reader

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "readers"
SHARED_CATALOG = REPO / "tests" / "catalogs" / "shared.yaml"
RELATIVE_SHARED = "../../../shared/datasets"  # as written in tests/catalogs/shared.yaml


def shared_dir() -> Path | None:
    """CURATE_SHARED if set, else <repo>/../shared, else /work/shared."""
    candidates = [Path(os.environ["CURATE_SHARED"])] if os.environ.get("CURATE_SHARED") else []
    candidates += [REPO.parent / "shared", Path("/work/shared")]
    for candidate in candidates:
        if (candidate / "datasets").is_dir():
            return candidate
    return None


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    found = shared_dir()
    if found is None:
        pytest.fail("the shared corpora were not found: set CURATE_SHARED to the folder that holds datasets/ "
                    f"(tried $CURATE_SHARED, {REPO.parent / 'shared'}, /work/shared)")
    return found / "datasets"


@pytest.fixture(scope="session")
def shared_catalog(shared_datasets: Path, tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """tests/catalogs/shared.yaml, its relative corpus paths redirected when the corpora live elsewhere."""
    if (SHARED_CATALOG.parent / RELATIVE_SHARED).resolve() == shared_datasets.resolve():
        return load_catalog(SHARED_CATALOG)
    copy = tmp_path_factory.mktemp("catalog") / "shared.yaml"
    copy.write_text(SHARED_CATALOG.read_text(encoding="utf-8").replace(RELATIVE_SHARED, str(shared_datasets)),
                    encoding="utf-8")
    return load_catalog(copy)


Run = Callable[..., tuple[list[Any], ReadContext]]


@pytest.fixture
def read() -> Run:
    """read(reader, path, options=None, labels=(), split="train") -> (documents, context with rejects)."""

    def run(reader: str, path: str | Path, options: dict[str, Any] | None = None, labels: tuple[str, ...] = (),
            split: str = "train") -> tuple[list[Any], ReadContext]:
        ctx = ReadContext(dataset="tiny", split=split, file=str(path), labels=frozenset(labels))
        docs = list(get_reader(reader, options).read(str(path), ctx))
        return docs, ctx

    return run


def reasons(ctx: ReadContext) -> list[str]:
    return [r.reason for r in ctx.rejects]
