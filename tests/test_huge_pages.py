"""curate turns huge pages off in the processes that build and prepare data, unless the environment says
otherwise: numpy's advice (``NUMPY_MADVISE_HUGEPAGE``) and, on Linux, transparent huge pages for the whole
process (``CURATE_HUGE_PAGES``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CHECK = (
    "import ctypes, os, sys\n"
    # start from THP allowed: a process that ran a build (this test session's) passes its setting on
    "if sys.platform == 'linux': ctypes.CDLL(None).prctl(41, 0, 0, 0, 0)\n"
    "from curate.huge_pages import avoid_huge_pages\n"
    "from numpy._core.multiarray import _set_madvise_hugepage\n"
    "avoid_huge_pages()\n"
    "now = _set_madvise_hugepage(True)\n"  # returns the setting it replaces
    "status = open('/proc/self/status').read() if os.path.exists('/proc/self/status') else ''\n"
    "thp = status.split('THP_enabled:')[1].split()[0] if 'THP_enabled:' in status else 'unknown'\n"
    "print(os.environ['NUMPY_MADVISE_HUGEPAGE'], now, thp)\n"
)


def _run(env_changes: dict[str, str | None]) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in env_changes}
    env.update({k: v for k, v in env_changes.items() if v is not None})
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    out = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, check=True)
    return out.stdout.split()


@pytest.mark.parametrize(("given", "expected"), [(None, ["0", "False"]), ("1", ["1", "True"]), ("0", ["0", "False"])])
def test_numpys_advice_is_off_unless_the_environment_keeps_it(given: str | None, expected: list[str]) -> None:
    assert _run({"NUMPY_MADVISE_HUGEPAGE": given})[:2] == expected


@pytest.mark.skipif(not Path("/proc/self/status").exists() or "THP_enabled:" not in Path("/proc/self/status")
                    .read_text(), reason="the kernel does not report a process's THP setting")
@pytest.mark.parametrize(("given", "expected"), [(None, "0"), ("1", "1")])
def test_transparent_huge_pages_are_off_for_the_process_unless_kept(given: str | None, expected: str) -> None:
    assert _run({"CURATE_HUGE_PAGES": given})[2] == expected
