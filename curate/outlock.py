"""An exclusive lock on a build's output folder, so that two builds never write into one ``--out``.

The lock is an advisory ``flock`` on ``OUT/.lock``, which also records the holder (pid, host, start time)
for the message a second build shows. The kernel drops a ``flock`` when its process dies, however it dies
(SIGKILL included), so a lock left by a dead build is taken over without any clean-up step.

An object store (``--out s3://...``) has no ``flock``. There the lock is an object, ``OUT/.lock``, holding
the same holder information, written when the build starts and deleted when it ends; a second build that
finds it stops with the holder named. A build killed on this machine leaves it behind, and the next build
here takes it over when that process is gone (same host, pid not running); one left by a build on another
machine must be deleted by hand once that build is known to be dead (the message says so). Builds on one
machine are also serialised by a local ``flock`` keyed by the URI. Two machines that start a build into one
URI at the same instant can both pass the check: object stores offer no atomic create-if-absent here.
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

from curate import storage
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


def _holder_info() -> dict[str, object]:
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def _alive_here(info: dict[str, object]) -> bool:
    """Whether the holder may still run: always, unless it ran on this host and its pid is gone."""
    if info.get("host") != socket.gethostname() or not isinstance(info.get("pid"), int):
        return True
    try:
        os.kill(int(info["pid"]), 0)  # type: ignore[call-overload]
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def _object_lock(out: Path) -> Iterator[Path]:
    """The lock object of an object-storage ``out`` (see the module docstring), inside a local flock."""
    import hashlib

    key = hashlib.sha256(storage.display(out).encode()).hexdigest()[:24]
    local = storage.cache_dir() / "locks" / key
    with output_lock(local):
        path = out / LOCK_NAME
        if storage.exists(path):
            try:
                info = json.loads(storage.read_text(path) or "{}")
            except ValueError:
                info = {}
            if _alive_here(info):
                where = storage.display(path)
                raise OutputBusy(f"{storage.display(out)}: another build is writing here: lock {where} is held by "
                                 f"process {info.get('pid', '?')} on {info.get('host', '?')} (since "
                                 f"{info.get('started', '?')}); wait for it to finish, build into another --out, "
                                 f"or delete {where} if that build is no longer running")
        storage.write_bytes(path, json.dumps(_holder_info()).encode())
        try:
            yield path
        finally:
            storage.remove(path)


@contextmanager
def output_lock(out: Path) -> Iterator[Path]:
    """Hold ``out/.lock`` for the body; fail at once with the holder named when another process has it."""
    if storage.is_remote(out):
        with _object_lock(out) as path:
            yield path
        return
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
        os.write(fd, json.dumps(_holder_info()).encode())
        yield path
    finally:
        with suppress(FileNotFoundError):
            path.unlink()
        os.close(fd)
