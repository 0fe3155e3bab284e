"""Shared test setup: the environment Ray and DeepSpeed need, one local Ray per session, shared corpora."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("DS_ACCELERATOR", "cpu")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(Path.home() / ".cache" / "curate-torch-extensions"))

REPO = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    """``../shared`` beside the project (CI has it), or CURATE_SHARED."""
    candidates = [os.environ.get("CURATE_SHARED"), str(REPO.parent / "shared"), "/work/shared"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "datasets").is_dir():
            return Path(candidate)
    raise RuntimeError("shared corpora not found: expected ../shared/datasets beside the project "
                       "or CURATE_SHARED=/path/to/shared")


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    return shared_dir() / "datasets"


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
