"""Archives are read in place: zip and tar.gz members by `archive!member`, nothing is ever extracted.

A member named `../escape.txt` is just a name: reading it writes no file anywhere.
"""

from __future__ import annotations

import os
from pathlib import Path

from conftest import DATA, reasons

from curate.readers.base import path_exists

D = DATA / "archives"


def _tree(root: Path) -> set[str]:
    return {str(p) for p in root.rglob("*")}


def test_zip_and_tar_members_read_in_place(read) -> None:
    plain, _ = read("pubtator", DATA / "pubtator" / "good.txt")
    before = _tree(D.parent.parent)
    for archive in ("corpus.zip", "corpus.tar.gz"):
        docs, ctx = read("pubtator", f"{D / archive}!corpus/train.PubTator.txt")
        assert [d.model_dump() for d in docs] == [d.model_dump() for d in plain] and ctx.rejects == []
    (doc,), ctx = read("standoff", f"{D / 'corpus.tar.gz'}!brat/doc1.txt")
    assert doc.id == "doc1" and len(doc.entities) == 3 and ctx.rejects == []
    assert _tree(D.parent.parent) == before


def test_dot_dot_members_cannot_escape(read, tmp_path: Path) -> None:
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        before = _tree(tmp_path.parent) | _tree(D.parent.parent)
        zip_docs, _ = read("pubtator", f"{D / 'corpus.zip'}!../escape.txt")
        tar_docs, _ = read("pubtator", f"{D / 'corpus.tar.gz'}!../../escape.txt")
        assert len(zip_docs) == len(tar_docs) == 2  # read as data, never written
        assert _tree(tmp_path.parent) | _tree(D.parent.parent) == before
    finally:
        os.chdir(cwd)


def test_missing_member_is_a_reject(read) -> None:
    assert path_exists(f"{D / 'corpus.zip'}!corpus/train.PubTator.txt")
    assert not path_exists(f"{D / 'corpus.zip'}!nope.txt")
    docs, ctx = read("pubtator", f"{D / 'corpus.zip'}!nope.txt")
    assert docs == [] and reasons(ctx)[0].startswith("cannot open")
