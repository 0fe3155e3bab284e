"""What every reader shares: the Reader contract, the reject log, and checked constructors.

A reader turns one native file into schema documents. It never raises on bad data: it calls
``ctx.reject(...)`` with a reason and goes on, so a bad record never crashes a build and never
disappears silently.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import tarfile
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.documents import Entity, Normalization

ARCHIVE_SEPARATOR = "!"  # "corpus.zip!train/file.txt" names a member inside an archive


@dataclass(frozen=True)
class Reject:
    """One bad record or annotation, with enough context to find it in the source file."""

    dataset: str
    split: str
    file: str
    line: int | None
    record_id: str
    field: str
    reason: str
    # rejected: record dropped; dropped: one annotation dropped; repaired: kept, fixed;
    # over_budget: an annotation lost when a long text was split into windows (output.window_chars)
    action: str = "rejected"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


D = TypeVar("D", bound=BaseModel)


@dataclass
class ReadContext:
    """State of reading one file: where we are, what was rejected, which ids were used."""

    dataset: str
    split: str
    file: str
    language: str = "en"
    labels: frozenset[str] = frozenset()
    rejects: list[Reject] = field(default_factory=list)
    stats: Counter[str] = field(default_factory=Counter)
    _ids: dict[str, int] = field(default_factory=dict)
    _stem: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._stem = PurePosixPath(self.file.split(ARCHIVE_SEPARATOR)[-1]).stem  # for position_id, per record

    def reject(self, reason: str, *, line: int | None = None, record_id: str = "", field: str = "",
               action: str = "rejected") -> None:
        self.rejects.append(Reject(self.dataset, self.split, self.file, line, record_id, field, reason, action))

    def count(self, stat: str, n: int = 1) -> None:
        """Add to a reader-specific statistic that is not a document field (e.g. DDI candidate pairs)."""
        self.stats[stat] += n

    @property
    def rejected_records(self) -> int:
        return sum(1 for r in self.rejects if r.action == "rejected")

    def position_id(self, position: str) -> str:
        """The id of a record that has none of its own, from its position (``line12``, ``#3``), qualified
        with the file's stem as CoNLL ids are: the files of one split never share ids, which would make
        their examples share selection ranks, templates and record ids."""
        return f"{self._stem}:{position}"

    def unique_id(self, source_id: str) -> str:
        """A document id unique within the file: a repeated source id gets a ``~N`` suffix."""
        n = self._ids.get(source_id, 0)
        self._ids[source_id] = n + 1
        return source_id if n == 0 else f"{source_id}~{n}"

    def make(self, model: type[D], *, line: int | None = None, record_id: str = "", **fields: Any) -> D | None:
        """Build a schema document; a validation failure becomes a reject instead of an exception."""
        try:
            return model(**fields)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or model.__name__
            self.reject(err["msg"].removeprefix("Value error, "), line=line, record_id=record_id, field=where)
            return None

    def entity(self, text: str, *, id: str, type: str, spans: list[tuple[int, int]], mention: str | None = None,
               normalized: list[Normalization] | None = None, line: int | None = None,
               record_id: str = "") -> Entity | None:
        """A checked entity: spans inside ``text``, and ``mention`` (if given) equal to the text at the spans.

        A mention that differs only by surrounding whitespace is repaired (the text at the offsets
        wins) and reported; any other mismatch drops the entity and reports it.
        """
        if self.labels and type not in self.labels:
            self.reject(f"unknown entity type {type!r}", line=line, record_id=record_id, field="type",
                        action="dropped")
            return None
        pieces: list[str] = []
        for start, end in spans:
            if not (0 <= start < end <= len(text)):
                self.reject(f"span [{start}, {end}) is outside the text (length {len(text)})", line=line,
                            record_id=record_id, field="offsets", action="dropped")
                return None
            pieces.append(text[start:end])
        if mention is not None:
            found = " ".join(pieces)
            if found != mention and "".join(pieces) != mention:
                if " ".join(found.split()) == " ".join(mention.split()):
                    self.reject(f"mention {mention!r} differs from the text at its offsets {found!r} by white space; "
                                "kept the text at the offsets", line=line, record_id=record_id, field="text",
                                action="repaired")
                else:
                    self.reject(f"mention {mention!r} differs from the text at its offsets {found!r}", line=line,
                                record_id=record_id, field="text", action="dropped")
                    return None
        return Entity(id=id, type=type, offsets=list(spans), text=pieces, normalized=normalized or [])


class Reader:
    """Base of all readers. Subclasses set ``name`` and ``Options`` and implement ``read``."""

    name: ClassVar[str] = ""
    Options: ClassVar[type[BaseModel]] = NoOptions
    description: ClassVar[str] = ""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = self.Options(**(options or {}))

    def read(self, path: str, ctx: ReadContext) -> Iterator[BaseModel]:
        raise NotImplementedError

    @classmethod
    def file_problem(cls, path: str, options: dict[str, Any]) -> tuple[str, str] | None:
        """(problem, fix) when a declared file cannot or must not be read, so the catalog fails fast."""
        archive = path.split(ARCHIVE_SEPARATOR, 1)[0].lower()
        if archive.endswith(".rar"):
            return ("is a RAR archive: the Python standard library cannot open RAR and curate bundles no RAR "
                    "reader (it would need the `rarfile` package plus an `unrar`/`bsdtar` program)",
                    "extract it once (`unrar x FILE` or `bsdtar -xf FILE`) and point files at the extracted files")
        return None


def open_bytes(path: str) -> bytes:
    """The bytes of a file, decompressed (.gz, .bz2, .xz) or taken from inside a zip/tar archive.

    ``archive.zip!dir/member.txt`` reads a member in place: nothing is extracted to disk.
    """
    if ARCHIVE_SEPARATOR in path:
        archive, member = path.split(ARCHIVE_SEPARATOR, 1)
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                data = zf.read(member)
        else:
            with tarfile.open(archive) as tf:
                handle = tf.extractfile(member)
                if handle is None:
                    raise FileNotFoundError(f"{member} is not a regular file in {archive}")
                data = handle.read()
        return _decompress(member, data)
    return _decompress(path, Path(path).read_bytes())


def path_exists(path: str) -> bool:
    """Whether a file, or a member ``archive!member`` of a zip/tar archive, exists."""
    if ARCHIVE_SEPARATOR in path:
        archive, member = path.split(ARCHIVE_SEPARATOR, 1)
        try:
            if zipfile.is_zipfile(archive):
                with zipfile.ZipFile(archive) as zf:
                    return member in zf.namelist()
            with tarfile.open(archive) as tf:
                return member in tf.getnames()
        except (OSError, tarfile.TarError):
            return False
    return Path(path).is_file()


def _decompress(name: str, data: bytes) -> bytes:
    if name.endswith(".gz"):
        return gzip.decompress(data)
    if name.endswith(".bz2"):
        return bz2.decompress(data)
    if name.endswith(".xz"):
        return lzma.decompress(data)
    return data


def read_text(path: str, ctx: ReadContext, encoding: str = "utf-8") -> str | None:
    """Decode a whole file; a wrong encoding rejects the file with the byte position, not the build."""
    try:
        data = open_bytes(path)
    except (OSError, KeyError, zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        ctx.reject(f"cannot open: {exc}", field="(file)")
        return None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        ctx.reject(f"not valid {encoding} at byte {exc.start}: declare the file's `encoding` in the reader options",
                   line=line, field="(encoding)")
        return None
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        ctx.reject("the file is empty", field="(file)")
        return None
    return text


def read_xml(path: str, ctx: ReadContext) -> ET.Element | None:
    """Parse a whole XML file; an unreadable, empty or malformed file becomes a reject with the line."""
    try:
        data = open_bytes(path)
    except OSError as exc:
        ctx.reject(f"cannot open: {exc}", field="(file)")
        return None
    if not data.strip():
        ctx.reject("the file is empty", field="(file)")
        return None
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        declared = re.match(rb"""\s*<\?xml[^>]*encoding=["']([A-Za-z0-9._-]+)["']""", data)
        encoding = declared.group(1).decode("ascii") if declared else "utf-8"
        try:
            data.decode(encoding)
        except (UnicodeDecodeError, LookupError) as bad:
            start = getattr(bad, "start", 0)
            source = "its XML declaration names" if declared else "XML assumes without a declaration"
            ctx.reject(f"not valid {encoding} at byte {start} (the encoding {source}): re-encode the file as "
                       f"{encoding}, or declare its real encoding in the file's <?xml ... encoding=...?> line",
                       line=data[:start].count(b"\n") + 1, field="(encoding)")
            return None
        ctx.reject(f"invalid XML ({exc}); the file is truncated or malformed", line=exc.position[0], field="(xml)")
        return None


def json_lines(text: str, ctx: ReadContext) -> Iterator[tuple[int, Any]]:
    """(1-based line number, parsed value) of each non-blank line of a JSON-lines text; a line that does not
    parse, or nests too deeply, is rejected alone with its line number."""
    import json

    for number, line in text_lines(text):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            ctx.reject(f"invalid JSON on this line ({exc.msg})", line=number, record_id=f"line{number}",
                       field="(json)")
        except RecursionError:
            ctx.reject("JSON nested too deeply to read", line=number, record_id=f"line{number}", field="(json)")


def text_lines(text: str) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its newline), for CRLF and LF files alike."""
    for number, line in enumerate(io.StringIO(text, newline=None), start=1):
        yield number, line.rstrip("\n")
