"""curate turns numpy's huge-page advice off in its processes, unless the environment says otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CHECK = (
    "import os\n"
    "from curate.numpy_pages import avoid_numpy_hugepages\n"
    "from numpy._core.multiarray import _set_madvise_hugepage\n"
    "avoid_numpy_hugepages()\n"
    "now = _set_madvise_hugepage(True)\n"  # returns the setting it replaces
    "print(os.environ['NUMPY_MADVISE_HUGEPAGE'], now)\n"
)


@pytest.mark.parametrize(("given", "expected"), [(None, "0 False"), ("1", "1 True"), ("0", "0 False")])
def test_the_advice_is_off_unless_the_environment_keeps_it(given: str | None, expected: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    if given is not None:
        env["NUMPY_MADVISE_HUGEPAGE"] = given
    out = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == expected.split()
