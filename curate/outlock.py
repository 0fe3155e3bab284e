"""An exclusive lock on a build's output folder, so that two builds never write into one ``--out``.

The lock is an advisory ``flock`` on ``OUT/.lock``, which also records the holder (pid, host, start time)
for the message a second build shows. The kernel drops a ``flock`` when its process dies, however it dies
(SIGKILL included), so a lock left by a dead build is taken over without any clean-up step.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from curate.errors import CurateError

LOCK_NAME = ".lock"


class OutputBusy(CurateError):
    """Another live process holds the output folder's lock."""


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "another process"
    return f"process {info.get('pid', '?')} on {info.get('host', '?')} (since {info.get('started', '?')})"


@contextmanager
def output_lock(out: Path) -> Iterator[Path]:
    """Hold ``out/.lock`` for the body; fail at once with the holder named when another process has it."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK_NAME
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputBusy(f"{out}: another build is writing here: lock {path} is held by {_holder(path)}; "
                             "wait for it to finish, or build into another --out") from None
        # the holder before us may have removed the file after we opened it: lock the file that is there now
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}).encode())
        yield path
    finally:
        with suppress(FileNotFoundError):
            path.unlink()
        os.close(fd)
