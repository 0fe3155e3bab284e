"""Shared test setup: the environment Ray and DeepSpeed need, one local Ray per session, shared corpora,
the shared test catalog, and a runner for readers on tiny files (tests/data/readers/<family>/).

The real corpora live outside the project (``../shared/datasets``); they are located once here, and a missing
directory fails loudly instead of skipping tests.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("DS_ACCELERATOR", "cpu")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # Ray on loopback only (docs/catalog.md#network)
os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(Path.home() / ".cache" / "curate-torch-extensions"))

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data" / "readers"
SHARED_CATALOG = REPO / "tests" / "catalogs" / "shared.yaml"
RELATIVE_SHARED = "../../../shared/datasets"  # as written in tests/catalogs/shared.yaml


def shared_dir() -> Path:
    """CURATE_SHARED, or ``../shared`` beside the project (CI has it), or /work/shared."""
    candidates = [os.environ.get("CURATE_SHARED"), str(REPO.parent / "shared"), "/work/shared"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "datasets").is_dir():
            return Path(candidate)
    raise RuntimeError("shared corpora not found: expected ../shared/datasets beside the project "
                       "or CURATE_SHARED=/path/to/shared")


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    try:
        return shared_dir() / "datasets"
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def shared_catalog_path(shared_datasets: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/catalogs/shared.yaml, or a copy whose corpus paths point at CURATE_SHARED when it is elsewhere."""
    if (SHARED_CATALOG.parent / RELATIVE_SHARED).resolve() == shared_datasets.resolve():
        return SHARED_CATALOG
    copy = tmp_path_factory.mktemp("catalog") / "shared.yaml"
    text = SHARED_CATALOG.read_text(encoding="utf-8").replace(RELATIVE_SHARED, str(shared_datasets))
    copy.write_text(text.replace("templates: ../../instruction_templates", f"templates: {REPO}/instruction_templates"),
                    encoding="utf-8")
    return copy


@pytest.fixture(scope="session")
def shared_catalog(shared_catalog_path: Path) -> Any:
    from curate.catalog import load_catalog

    return load_catalog(shared_catalog_path)


@pytest.fixture(scope="session")
def shared_validation(shared_catalog: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """`curate validate` of the whole shared test catalog, once per session: its rows by (dataset, split)."""
    from curate.validate import validate_catalog

    rows, notices = validate_catalog(shared_catalog)
    assert notices == []
    return {(row["dataset"], row["split"]): row for row in rows}


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def ray_local() -> Iterator[object]:
    """One embedded Ray for the session, on loopback, in a fresh short temp dir (no stale cluster files)."""
    import ray

    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    ray.init(address="local", num_cpus=2, include_dashboard=False, _temp_dir=temp, log_to_driver=False,
             configure_logging=False, _node_ip_address="127.0.0.1")
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def demo_build(ray_local: object, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One build of the demo catalog for the session, for tests that only read its outputs (never write there)."""
    from curate.build import run_build

    return run_build(REPO / "catalog.yaml", tmp_path_factory.mktemp("demo") / "out", workers=2, progress=False)


Run = Callable[..., tuple[list[Any], Any]]


@pytest.fixture
def read() -> Run:
    """read(reader, path, options=None, labels=(), split="train") -> (documents, context with rejects and stats)."""
    from curate.readers import ReadContext, get_reader

    def run(reader: str, path: str | Path, options: dict[str, Any] | None = None, labels: tuple[str, ...] = (),
            split: str = "train") -> tuple[list[Any], ReadContext]:
        ctx = ReadContext(dataset="tiny", split=split, file=str(path), labels=frozenset(labels))
        docs = list(get_reader(reader, options).read(str(path), ctx))
        return docs, ctx

    return run


def reasons(ctx: Any) -> list[str]:
    return [r.reason for r in ctx.rejects]
