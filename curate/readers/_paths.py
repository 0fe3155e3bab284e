"""Paths of companion files (a gold list, an annotation folder) relative to a listed file, for plain files and
archive members (``corpus.zip!dir/file``) alike."""

from __future__ import annotations

import posixpath

from curate.readers.base import ARCHIVE_SEPARATOR


def sibling_path(path: str, relative: str) -> str:
    """``relative`` resolved against the folder of ``path``, inside the same archive when ``path`` is a member."""
    archive, separator, member = path.rpartition(ARCHIVE_SEPARATOR)
    folder = posixpath.dirname(member)
    joined = posixpath.normpath(posixpath.join(folder, relative)) if folder else posixpath.normpath(relative)
    return f"{archive}{separator}{joined}"
