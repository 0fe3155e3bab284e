"""The declarative record mapping every structured-file reader shares.

A catalog entry describes a corpus in YAML instead of Python: where its records are (JSON, JSON lines,
JSON lines named ``.json``, one-line JSON arrays, CSV/TSV, XLSX, parquet, opt-in pickle), how a nested
list explodes into several records, which second file joins on a key, and how each schema field is
taken from a record: a path (``a.b``, ``a[0].b``, ``a[*].b``), a constant, a template, and a list of
transforms (strip, HTML unescape, choice-prefix removal, label maps, score binning).

Nothing here raises on bad data: a record that cannot be read becomes a named reject.
"""

from __future__ import annotations

import csv
import functools
import html
import io
import json
import math
import pickle
import re
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from curate.readers._paths import sibling_path
from curate.readers.base import (
    ARCHIVE_SEPARATOR,
    ReadContext,
    Reader,
    json_lines,
    open_bytes,
    path_exists,
    text_lines,
)

MISSING: Any = object()  # a path that leads nowhere (absent key, index past the end)
_STEP = re.compile(r"\.?([^.\[\]]+)|\[(\*|-?\d+)\]")
PICKLE_SUFFIXES = (".pk", ".pkl", ".pickle")


class MappingProblem(ValueError):
    """A record does not fit its mapping (absent field, value of the wrong shape)."""

    def __init__(self, field: str, reason: str) -> None:
        self.field, self.reason = field, reason
        super().__init__(f"{field}: {reason}")


# ---------------------------------------------------------------- paths


def parse_path(path: str) -> list[str | int]:
    """``a.b[0].c[*]`` -> ``['a', 'b', 0, 'c', '*']``; a malformed path raises ValueError."""
    steps: list[str | int] = []
    pos = 0
    while pos < len(path):
        match = _STEP.match(path, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"bad path {path!r} at character {pos}: use a.b, a[0].b or a[*].b")
        key, index = match.groups()
        if key is not None:
            steps.append(key)
        else:
            steps.append("*" if index == "*" else int(index))
        pos = match.end()
    if not steps:
        raise ValueError("empty path")
    return steps


def get_path(record: Any, path: str) -> Any:
    """The value at ``path`` in ``record``; ``[*]`` collects a list; MISSING when a step leads nowhere.

    A key that is present verbatim (a CSV column named ``Valid Label`` or ``a.b``) wins over a path.
    """
    if isinstance(record, dict) and path in record:
        return record[path]
    return _walk(record, parse_path(path))


def _walk(value: Any, steps: list[str | int]) -> Any:
    for i, step in enumerate(steps):
        if step == "*":
            if not isinstance(value, list):
                return MISSING
            found = [_walk(item, steps[i + 1:]) for item in value]
            return [v for v in found if v is not MISSING]
        if isinstance(step, int):
            if not isinstance(value, list) or not -len(value) <= step < len(value):
                return MISSING
            value = value[step]
        else:
            if not isinstance(value, dict) or step not in value:
                return MISSING
            value = value[step]
    return value


def is_empty(value: Any) -> bool:
    """None, MISSING, a blank string, or a float NaN (bare ``NaN`` in JSON lines, an empty parquet cell)."""
    if value is None or value is MISSING:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


# ---------------------------------------------------------------- transforms

_CHOICE_PREFIX = re.compile(r"^\s*(?:\(?[A-Za-z]\)|[A-Za-z][.:、．]|（[A-Za-z]）)\s*")


class Bins(BaseModel):
    """Numeric score -> label: the first ``upper`` bound the score is below (or equal to) names its label."""

    model_config = ConfigDict(extra="forbid")

    edges: list[float] = Field(description="ascending upper bounds; a score above the last gets the last label")
    labels: list[str]

    @field_validator("labels")
    @classmethod
    def _one_label_per_bin(cls, labels: list[str], info: Any) -> list[str]:
        edges = info.data.get("edges", [])
        if len(labels) != len(edges) + 1:
            raise ValueError(f"bins need one more label than edges ({len(edges)} edges, {len(labels)} labels)")
        return labels


class Transform(BaseModel):
    """One step of a field's transform list; exactly one key is set (``- strip``, ``- map: {...}``)."""

    model_config = ConfigDict(extra="forbid")

    strip: bool = False
    html_unescape: bool = False
    strip_choice_prefix: bool = Field(False, description="remove `(A)`, `A.`, `A)` prefixes of options")
    lower: bool = False
    map: dict[str, str] | None = Field(None, description="raw value -> value (labels)")
    split: str | None = Field(None, description="split a string into a list at this separator")
    score: str | None = Field(None, description="keep a number as a score string with this format, e.g. '{:g}'")
    bins: Bins | None = None
    replace: dict[str, str] | None = None


def _transform_list(value: Any) -> list[Transform]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out: list[Transform] = []
    for item in items:
        if isinstance(item, str):
            out.append(Transform(**{item: True}))
        elif isinstance(item, dict):
            out.append(Transform(**item))
        elif isinstance(item, Transform):
            out.append(item)
        else:
            raise ValueError(f"a transform is a name (strip) or a one-key mapping (map: ...), not {item!r}")
    return out


def apply_transforms(value: Any, transforms: list[Transform], field: str) -> Any:
    """Apply each transform in order; a list value is transformed element by element."""
    for step in transforms:
        value = _apply_one(value, step, field)
    return value


def _apply_one(value: Any, step: Transform, field: str) -> Any:
    if isinstance(value, list) and step.split is None:
        return [_apply_one(v, step, field) for v in value]
    if is_empty(value):
        return value
    if step.split is not None:
        parts = value if isinstance(value, list) else [value]
        return [p for v in parts for p in str(v).split(step.split)]
    if step.score is not None or step.bins is not None:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise MappingProblem(field, f"{value!r} is not a number") from None
        if math.isnan(number):
            return None
        if step.score is not None:
            return step.score.format(number)
        assert step.bins is not None
        for edge, label in zip(step.bins.edges, step.bins.labels, strict=False):
            if number <= edge:
                return label
        return step.bins.labels[-1]
    text = str(value)
    if step.strip:
        return text.strip()
    if step.html_unescape:
        return html.unescape(text)
    if step.strip_choice_prefix:
        return _CHOICE_PREFIX.sub("", text, count=1)
    if step.lower:
        return text.lower()
    if step.map is not None:
        return step.map.get(text, step.map.get(text.strip(), text))
    if step.replace is not None:
        for old, new in step.replace.items():
            text = text.replace(old, new)
        return text
    return value


class FieldSpec(BaseModel):
    """How one schema field is taken from a record: a path, several paths joined, a constant or a template."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = None
    paths: list[str] = Field(default_factory=list, description="several paths; their non-empty values joined")
    join: str = Field("\n", description="separator for `paths` (and for list values of a text field)")
    const: Any = None
    template: str | None = Field(None, description="Python format string over the record, e.g. '{a} vs {b}'")
    transforms: list[Transform] = Field(default_factory=list)
    optional: bool = Field(False, description="an absent value is empty instead of a reject")

    @field_validator("transforms", mode="before")
    @classmethod
    def _names_or_mappings(cls, value: Any) -> list[Transform]:
        return _transform_list(value)

    @field_validator("path")
    @classmethod
    def _path_parses(cls, value: str | None) -> str | None:
        if value is not None:
            parse_path(value)
        return value


FieldValue = str | list[str] | FieldSpec


def checked_fields(value: Any) -> Any:
    """Build each mapping-form field itself, so an error names the field and the bad key, not a union branch."""
    if not isinstance(value, dict):
        return value
    out: dict[Any, Any] = {}
    for name, spec in value.items():
        if isinstance(spec, dict):
            try:
                spec = FieldSpec(**spec)
            except ValidationError as exc:
                err = exc.errors()[0]
                where = ".".join(str(p) for p in err["loc"])
                raise ValueError(f"{name}{'.' + where if where else ''}: {err['msg'].removeprefix('Value error, ')}"
                                 ) from None
        elif not isinstance(spec, str | list | FieldSpec):
            raise ValueError(f"{name}: give a column or path, a list of columns, or a mapping {{path, "
                             "transforms, ...}")
        out[name] = spec
    return out


def as_spec(value: FieldValue) -> FieldSpec:
    """The FieldSpec of a field as the catalog gives it. Readers ask once per record and field, so the
    specs of plain paths are made once (building and validating one was ~5% of a tabular file's
    conversion); they are only read, never changed."""
    if isinstance(value, FieldSpec):
        return value
    if isinstance(value, list):
        return _spec_of_paths(tuple(value))
    return _spec_of_path(value)


@functools.lru_cache(maxsize=1024)
def _spec_of_path(path: str) -> FieldSpec:
    return FieldSpec(path=path)


@functools.lru_cache(maxsize=1024)
def _spec_of_paths(paths: tuple[str, ...]) -> FieldSpec:
    return FieldSpec(paths=list(paths))


def extract(record: Any, spec: FieldSpec, field: str) -> Any:
    """The value of one field (MISSING when absent and not optional); raises MappingProblem on a bad value."""
    if spec.const is not None:
        value: Any = spec.const
    elif spec.template is not None:
        try:
            value = spec.template.format_map(_TemplateView(record))
        except (KeyError, IndexError, ValueError, AttributeError) as exc:
            raise MappingProblem(field, f"template {spec.template!r} cannot be filled: {exc}") from None
    elif spec.paths:
        value = [get_path(record, p) for p in spec.paths]
        if all(v is MISSING for v in value):
            value = MISSING
    elif spec.path is not None:
        value = get_path(record, spec.path)
    else:
        raise MappingProblem(field, "the mapping gives no path, paths, const or template")
    if value is MISSING:
        return None if spec.optional else MISSING
    return apply_transforms(value, spec.transforms, field)


class _TemplateView(dict):  # type: ignore[type-arg]
    """Record keys for str.format_map; an absent key reads as an empty string, NaN as empty."""

    def __init__(self, record: Any) -> None:
        super().__init__(record if isinstance(record, dict) else {})

    def __missing__(self, key: str) -> str:
        value = get_path(dict(self), key)
        return "" if is_empty(value) else str(value)

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key) if key in self else self.__missing__(key)
        return "" if is_empty(value) else value


def text_of(value: Any, join: str = "\n") -> str:
    """A field value as text: lists joined (empty items dropped), NaN/None as empty."""
    if isinstance(value, list):
        return join.join(text_of(v, join) for v in value if not is_empty(v))
    return "" if is_empty(value) else str(value)


# ---------------------------------------------------------------- sources


def _no_bare_on(data: Any) -> Any:
    """YAML reads a bare ``on`` key as the boolean true: name the key to use instead of a type error."""
    if isinstance(data, dict) and (True in data or "on" in data):
        raise ValueError("the key `on` is read by YAML as true: name the record's key column `record_key` (and "
                         "the joined file's `file_key`)")
    return data


class JoinSpec(BaseModel):
    """Join a second file on a key: its matching record is stored under ``as`` in each record."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    _on = model_validator(mode="before")(classmethod(lambda cls, data: _no_bare_on(data)))

    file: str = Field(description="path relative to the data file; `{field}` placeholders make one file per "
                      "record (e.g. txt_files/PMC{PMCID}.txt)")
    record_key: str | None = Field(None, description="path in the record holding the key (not for per-record "
                                   "files)")
    file_key: str | None = Field(None, description="column of the joined file holding the key (default: "
                                 "`record_key`)")
    as_: str = Field(alias="as", description="name under which the joined record (or text) is stored")
    text: bool = Field(False, description="the file is one plain text, stored as a string")
    required: bool = Field(True, description="a record without a match is rejected (else it is kept without)")
    file_format: Literal["csv", "tsv", "jsonl", "json", "parquet", "xlsx"] | None = None
    encoding: str = "utf-8"
    header: bool = True
    columns: list[str] = Field(default_factory=list)


class ExplodeSpec(BaseModel):
    """One record per element of a nested list; the element is stored under ``as`` beside the parent's keys."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    path: str
    as_: str = Field("item", alias="as")
    id_path: str | None = Field(None, description="path in the element holding its id (default: parent id#n)")


class ListedSpec(BaseModel):
    """Keep only records whose key is listed (one per line) in the file named for the split being read."""

    model_config = ConfigDict(extra="forbid")

    _on = model_validator(mode="before")(classmethod(lambda cls, data: _no_bare_on(data)))

    record_key: str = Field(description="path in the record holding the listed key")
    files: dict[str, str] = Field(description="split -> list file, relative to the data file")


class SourceOptions(BaseModel):
    """Where the records of a structured file are and how to read them: shared by every mapped reader."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    file_format: Literal["csv", "tsv", "jsonl", "json", "parquet", "xlsx", "pickle"] | None = Field(
        None, description="defaults to the file extension; `json` also reads JSON lines named .json")
    encoding: str = Field("utf-8", description="a Python codec name (utf-8, gb18030, latin-1)")
    fallback_encodings: list[str] = Field(
        default_factory=list, description="tried in order when a file is not valid in `encoding` (e.g. gb18030)")
    header: bool | Literal["auto"] = Field(
        True, description="CSV/TSV/XLSX: the first row names the columns; auto: it does when it holds every mapped "
        "column name (for splits that differ, e.g. BioBERT GAD train without and test with a header)")
    columns: list[str] = Field(default_factory=list, description="CSV/TSV/XLSX column names when there is no header")
    quoting: bool = Field(True, description="CSV/TSV: honour double-quote quoting")
    multiline_cells: bool = Field(
        True, description="CSV/TSV: a quoted cell may span lines (RFC 4180); false: a record spanning lines is an "
        "unterminated quote and its first line is rejected")
    sheet: str | None = Field(None, description="XLSX: sheet name (default: the first sheet)")
    records_path: str | None = Field(None, description="JSON: path to the list of records inside the document")
    keyed_records: bool = Field(False, description="JSON: the records are an object keyed by record id (the key "
                                "becomes the id), e.g. PubMedQA or IMCS")
    explode: ExplodeSpec | None = Field(None, description="{path, as, id_path}: one record per element of a "
                                        "nested list, the element stored under `as` (default item)")
    join: list[JoinSpec] = Field(default_factory=list, description="[{file, record_key, file_key, as, text, "
                                 "required}]: a second file joined on a key, or one file per record (`{field}` "
                                 "in its name)")
    listed: ListedSpec | None = Field(None, description="{record_key, files: {split: list file}}: keep records "
                                      "whose key is listed for the split being read")
    allow_pickle: bool = Field(
        False, description="read a pickle's plain containers (dict, list, str, numbers) only; any class or "
        "function reference is refused as a reject, never executed")
    id_field: str | None = Field(
        None, description="path holding the record id (default: the file's stem and row number)")

    @field_validator("records_path", "id_field")
    @classmethod
    def _path_parses(cls, value: str | None) -> str | None:
        if value is not None:
            parse_path(value)
        return value

    @field_validator("encoding", "fallback_encodings")
    @classmethod
    def _known_codec(cls, value: Any) -> Any:
        import codecs

        for name in [value] if isinstance(value, str) else value:
            try:
                codecs.lookup(name)
            except LookupError:
                raise ValueError(f"unknown encoding {name!r} (use a Python codec name: utf-8, gb18030, "
                                 "latin-1)") from None
        return value


def source_format(path: str, opts: SourceOptions) -> str:
    if opts.file_format:
        return opts.file_format
    name = path.split(ARCHIVE_SEPARATOR)[-1].removesuffix(".gz").lower()
    for ext, fmt in ((".tsv", "tsv"), (".txt", "tsv"), (".csv", "csv"), (".jsonl", "jsonl"), (".json", "json"),
                     (".parquet", "parquet"), (".xlsx", "xlsx"), *((s, "pickle") for s in PICKLE_SUFFIXES)):
        if name.endswith(ext):
            return fmt
    return "csv"


def source_problem(path: str, opts: SourceOptions) -> tuple[str, str] | None:
    """(problem, fix) when a declared file must not or cannot be read with these options, before any build."""
    if source_format(path, opts) == "pickle" and not opts.allow_pickle:
        return ("is a Python pickle: loading a pickle can run arbitrary code, so curate never unpickles by default",
                "convert it to JSON, or set options.allow_pickle: true to read its plain containers only (any class "
                "or function reference is refused and reported, never executed)")
    return None


class MappedReader(Reader):
    """Base of the readers whose records come through this mapping: a declared file that must not or cannot be
    read with the entry's options (a pickle without opt-in, a RAR) fails at catalog load."""

    @classmethod
    def file_problem(cls, path: str, options: dict[str, Any]) -> tuple[str, str] | None:
        return source_problem(path, cls.Options(**options)) or super().file_problem(path, options)


def decode(path: str, ctx: ReadContext, opts: SourceOptions) -> str | None:
    """A whole file as text in ``encoding`` or the first fallback that fits; a bad file becomes a reject."""
    import tarfile
    import zipfile

    try:
        data = open_bytes(path)
    except (OSError, KeyError, zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        ctx.reject(f"cannot open: {exc}", field="(file)")
        return None
    text: str | None = None
    first_error: UnicodeDecodeError | None = None
    for encoding in [opts.encoding, *opts.fallback_encodings]:
        try:
            text = data.decode(encoding)
            if encoding != opts.encoding:
                ctx.count(f"files_decoded_as_{encoding}")
            break
        except UnicodeDecodeError as exc:
            first_error = first_error or exc
    if text is None:
        assert first_error is not None
        line = data[: first_error.start].count(b"\n") + 1
        tried = ", ".join([opts.encoding, *opts.fallback_encodings])
        ctx.reject(f"not valid {tried} at byte {first_error.start}: declare the file's `encoding` (or "
                   "`fallback_encodings`) in the reader options", line=line, field="(encoding)")
        return None
    if text.startswith("\ufeff"):
        text = text[1:]  # a file BOM; a U+FEFF inside a JSON string is data and stays
    if not text.strip():
        ctx.reject("the file is empty", field="(file)")
        return None
    return text


def iter_records(path: str, ctx: ReadContext, opts: SourceOptions,
                 mapped_columns: set[str] | None = None) -> Iterator[tuple[int | None, str, Any]]:
    """(line or None, record id, record) for every record of a file, after explode, joins and list filters."""
    listed = _listed_keys(path, ctx, opts)
    if opts.listed is not None and listed is None:
        return
    joins = [_load_join(path, spec, ctx) for spec in opts.join]
    if any(j is None for j in joins):
        return
    for line, rid, record in _raw_records(path, ctx, opts, mapped_columns or set()):
        if opts.id_field and isinstance(record, dict):
            value = get_path(record, opts.id_field)
            if not is_empty(value):
                rid = str(value)
        if listed is not None and opts.listed is not None and \
                text_of(get_path(record, opts.listed.record_key)).strip() not in listed:
            ctx.count("not_listed")
            continue
        if joins:
            record = _joined(path, record, opts.join, joins, line, rid, ctx)
            if record is None:
                continue
        if opts.explode is None:
            yield line, rid, record
            continue
        items = get_path(record, opts.explode.path)
        if not isinstance(items, list):
            ctx.reject(f"explode path {opts.explode.path!r} is not a list", line=line, record_id=rid,
                       field=opts.explode.path)
            continue
        if not items:
            ctx.count("exploded_empty")
        for n, item in enumerate(items):
            item_id = get_path(item, opts.explode.id_path) if opts.explode.id_path else MISSING
            yield line, f"{rid}#{n}" if is_empty(item_id) else str(item_id), {**record, opts.explode.as_: item}


def _raw_records(path: str, ctx: ReadContext, opts: SourceOptions,
                 mapped: set[str]) -> Iterator[tuple[int | None, str, Any]]:
    fmt = source_format(path, opts)
    if fmt == "parquet":
        yield from _parquet_records(path, ctx)
    elif fmt == "xlsx":
        yield from _xlsx_records(path, ctx, opts)
    elif fmt == "pickle":
        yield from _pickle_records(path, ctx, opts)
    elif fmt in ("json", "jsonl"):
        yield from _json_records(path, ctx, opts)
    else:
        text = decode(path, ctx, opts)
        if text is not None:
            yield from csv_records(text, ctx, opts, "\t" if fmt == "tsv" else ",", mapped)


def _parquet_records(path: str, ctx: ReadContext) -> Iterator[tuple[int | None, str, Any]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(open_bytes(path)))
    except Exception as exc:  # pyarrow raises several types for a bad file
        ctx.reject(f"cannot read parquet: {exc}", field="(file)")
        return
    for index, row in enumerate(table.to_pylist()):
        yield None, ctx.position_id(f"#{index}"), row


def _xlsx_records(path: str, ctx: ReadContext, opts: SourceOptions) -> Iterator[tuple[int | None, str, Any]]:
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(io.BytesIO(open_bytes(path)), read_only=True, data_only=True)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, InvalidFileException) as exc:
        ctx.reject(f"cannot read the XLSX workbook: {exc}", field="(file)")
        return
    if opts.sheet is not None and opts.sheet not in workbook.sheetnames:
        ctx.reject(f"no sheet {opts.sheet!r} (sheets: {', '.join(workbook.sheetnames)})", field="(sheet)")
        return
    sheet = workbook[opts.sheet] if opts.sheet else workbook.worksheets[0]
    names = list(opts.columns)
    for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
        values = ["" if c is None else c for c in cells]
        if number == 1 and opts.header in (True, "auto"):
            names = names or [str(v).strip() for v in values]
            continue
        if not any(str(v).strip() for v in values):
            continue
        yield number, ctx.position_id(f"row{number}"), dict(zip(names, values, strict=False))
    workbook.close()


class _PlainUnpickler(pickle.Unpickler):
    """Builds only what pickle's own opcodes make (dict, list, tuple, set, str, bytes, numbers, None)."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refused the reference to {module}.{name}: only plain containers are read")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError(f"refused the persistent reference {pid!r}")


def _pickle_records(path: str, ctx: ReadContext, opts: SourceOptions) -> Iterator[tuple[int | None, str, Any]]:
    if not opts.allow_pickle:  # the catalog refuses this first; a direct reader call must not unpickle either
        ctx.reject("a pickle is not read without options.allow_pickle: true", field="(pickle)")
        return
    try:
        data = _PlainUnpickler(io.BytesIO(open_bytes(path))).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError, OSError,
            RecursionError, MemoryError) as exc:
        ctx.reject(f"pickle not read: {exc}", field="(pickle)")
        return
    data = _at_records_path(data, opts, ctx)
    if isinstance(data, dict) and opts.keyed_records:
        for key, record in data.items():
            yield None, str(key), record
        return
    if isinstance(data, dict):
        data = [{"key": k, "value": v} for k, v in data.items()]
    if not isinstance(data, list | tuple):
        ctx.reject(f"the pickle holds a {type(data).__name__}, not a list or dict of records", field="(pickle)")
        return
    for index, record in enumerate(data):
        yield None, ctx.position_id(f"#{index}"), record


def _at_records_path(data: Any, opts: SourceOptions, ctx: ReadContext) -> Any:
    if opts.records_path is None:
        return data
    found = get_path(data, opts.records_path)
    if found is MISSING:
        ctx.reject(f"records_path {opts.records_path!r} is not in the file", field="(records_path)")
        return []
    return found


def _json_records(path: str, ctx: ReadContext, opts: SourceOptions) -> Iterator[tuple[int | None, str, Any]]:
    """A JSON document (array, object with records_path or keyed_records) or JSON lines, whatever the name.

    A text that starts with ``[`` is one array; one that starts with ``{`` and spans several lines is one
    object when it parses whole (pretty-printed), else JSON lines.
    """
    text = decode(path, ctx, opts)
    if text is None:
        return
    stripped = text.lstrip()
    whole = stripped.startswith("[") or opts.records_path is not None or opts.keyed_records or (
        stripped.startswith("{") and stripped.rstrip().count("\n") > 0)
    if whole:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            if stripped.startswith("["):
                ctx.reject(f"invalid JSON ({exc.msg}); the file is truncated or malformed", line=exc.lineno,
                           field="(json)")
                return
            data = MISSING  # several objects, one per line: JSON lines
        except RecursionError:
            ctx.reject("JSON nested too deeply to read", field="(json)")
            return
        if data is not MISSING:
            yield from _document_records(data, ctx, opts)
            return
    for number, record in json_lines(text, ctx):
        rid = ctx.position_id(f"line{number}")
        if isinstance(record, dict) and not is_empty(record.get("id")):
            rid = str(record["id"])
        yield number, rid, record


def _document_records(data: Any, ctx: ReadContext, opts: SourceOptions) -> Iterator[tuple[int | None, str, Any]]:
    records = _at_records_path(data, opts, ctx)
    if opts.keyed_records:
        if not isinstance(records, dict):
            ctx.reject("keyed_records: the records are not a JSON object keyed by id", field="(json)")
            return
        for key, record in records.items():
            yield None, str(key), record
        return
    if isinstance(records, dict) and opts.records_path is None:
        ctx.reject("the file is one JSON object: set records_path to the key holding the records, or "
                   "keyed_records: true when it maps ids to records", field="(json)")
        return
    if not isinstance(records, list):
        ctx.reject("the records are not a JSON array (set records_path)", field="(json)")
        return
    for index, record in enumerate(records):
        rid = ctx.position_id(f"#{index}")
        if isinstance(record, dict) and not is_empty(record.get("id")):
            rid = str(record["id"])
        yield None, rid, record


def csv_records(text: str, ctx: ReadContext, opts: SourceOptions, delimiter: str,
                mapped: set[str]) -> Iterator[tuple[int | None, str, Any]]:
    """Rows of a CSV/TSV text as dicts, with a guard against an unterminated quote.

    A quoted cell that opens and never closes would swallow the following rows into its text. A record
    that spans several lines is accepted only when multi-line cells are allowed and none of its inner
    lines is a complete row by itself; otherwise its first line is rejected by name and reading resumes
    on the next line, so the rows after it are read, not lost.
    """
    quoting = csv.QUOTE_MINIMAL if opts.quoting else csv.QUOTE_NONE
    lines = io.StringIO(text, newline="").readlines()  # CR, LF, CRLF only: U+2028 or a form feed is cell text
    names = list(opts.columns)
    start = 0
    if opts.header == "auto" and lines:
        first = _parse_line(lines[0], delimiter, quoting)
        if mapped and first is not None and mapped <= {c.strip() for c in first}:
            names, start = [c.strip() for c in first], 1
    elif opts.header is True and lines:
        header_rows = _parse_from(lines, 0, delimiter, quoting)
        first_row = next(header_rows, None)
        if first_row is not None:
            names = list(opts.columns) or [c.strip() for c in first_row[1]]
            start = first_row[0]
    expected = len(names)
    while start < len(lines):
        resumed = False
        for end, cells in _parse_from(lines, start, delimiter, quoting):
            number = start + 1
            if end - start > 1 and cells is not None and expected and (
                    not opts.multiline_cells or len(cells) != expected
                    or _swallows_rows(lines[start + 1:end], delimiter, quoting, expected)):
                ctx.reject("a quote opened in this row is never closed on its line and would swallow the "
                           f"{end - start - 1} line(s) after it; the row is skipped and reading resumes on the "
                           "next line (close or escape the quote, or set quoting: false)", line=number,
                           record_id=ctx.position_id(f"line{number}"), field="(csv)")
                start += 1
                resumed = True
                break
            start = end
            if cells is None:
                ctx.reject("CSV syntax error in this row", line=number, record_id=ctx.position_id(f"line{number}"),
                           field="(csv)")
                continue
            if not any(c.strip() for c in cells):
                continue
            if len(cells) < expected:
                ctx.reject(f"row has {len(cells)} columns, expected {expected} ({', '.join(names)})",
                           line=number, record_id=ctx.position_id(f"line{number}"), field="(columns)")
                continue
            yield number, ctx.position_id(f"line{number}"), dict(zip(names, cells, strict=False))
        if not resumed:
            break


def _parse_from(lines: list[str], start: int, delimiter: str,
                quoting: int) -> Iterator[tuple[int, list[str] | None]]:
    """(index after the record's last line, cells or None on a syntax error) from line ``start`` on."""
    reader = csv.reader(iter(lines[start:]), delimiter=delimiter, quoting=quoting)
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error:
            yield start + reader.line_num, None
            continue
        yield start + reader.line_num, cells


def _parse_line(line: str, delimiter: str, quoting: int) -> list[str] | None:
    try:
        return next(csv.reader([line], delimiter=delimiter, quoting=quoting), [])
    except csv.Error:
        return None


def _swallows_rows(inner: list[str], delimiter: str, quoting: int, expected: int) -> bool:
    """Whether lines inside a multi-line cell are rows of their own (as many cells, no open quote)."""
    for line in inner:
        if line.count('"') % 2:
            continue
        cells = _parse_line(line, delimiter, quoting)
        if cells is not None and len(cells) == expected and expected > 1:
            return True
    return False


def _listed_keys(path: str, ctx: ReadContext, opts: SourceOptions) -> set[str] | None:
    if opts.listed is None:
        return None
    relative = opts.listed.files.get(ctx.split)
    if relative is None:
        ctx.reject(f"listed.files names no list for split {ctx.split!r}", field="(listed)")
        return None
    list_path = sibling_path(path, relative)
    text = decode(list_path, ReadContext(ctx.dataset, ctx.split, list_path), opts) if path_exists(list_path) \
        else None
    if text is None:
        ctx.reject(f"list file {relative} not found or empty next to the data", field="(listed)")
        return None
    return {line.strip() for _, line in text_lines(text) if line.strip()}


def _load_join(path: str, spec: JoinSpec, ctx: ReadContext) -> dict[str, Any] | None:
    """Records of a joined file keyed by ``key``; per-record files are read lazily into the (empty) dict."""
    if "{" in spec.file:
        return {}
    join_path = sibling_path(path, spec.file)
    if not path_exists(join_path):
        ctx.reject(f"join file {spec.file} not found next to the data", field="(join)")
        return None
    sub_opts = SourceOptions(file_format=spec.file_format, encoding=spec.encoding, header=spec.header,
                             columns=spec.columns)
    sub_ctx = ReadContext(ctx.dataset, ctx.split, join_path)
    key = spec.file_key or spec.record_key or ""
    table: dict[str, Any] = {}
    for _, _, row in _raw_records(join_path, sub_ctx, sub_opts, set()):
        value = get_path(row, key)
        if not is_empty(value):
            table.setdefault(text_of(value).strip(), row)
    for reject in sub_ctx.rejects:
        ctx.rejects.append(reject)
    return table


def _joined(path: str, record: Any, specs: list[JoinSpec], tables: list[dict[str, Any] | None],
            line: int | None, rid: str, ctx: ReadContext) -> Any:
    if not isinstance(record, dict):
        ctx.reject("record is not an object and cannot be joined", line=line, record_id=rid, field="(join)")
        return None
    record = dict(record)
    for spec, table in zip(specs, tables, strict=True):
        assert table is not None
        if "{" in spec.file:
            try:
                relative = spec.file.format_map(_TemplateView(record))
            except (KeyError, ValueError, IndexError) as exc:
                ctx.reject(f"join file name {spec.file!r} cannot be filled: {exc}", line=line, record_id=rid,
                           field="(join)")
                return None
            if relative not in table:  # per-record files are cached: many records share one article
                table[relative] = _read_joined_file(sibling_path(path, relative), spec, ctx)
            found, why = table[relative]
            where = f"{relative}: {why}"
        else:
            key = text_of(get_path(record, spec.record_key or "")).strip()
            found = table.get(key)
            where = f"{spec.file} {spec.file_key or spec.record_key}={key}"
        if found is None:
            if spec.required:
                ctx.reject(f"no match in the joined file ({where})", line=line, record_id=rid, field=spec.as_)
                return None
            ctx.count(f"unjoined_{spec.as_}")
            continue
        record[spec.as_] = found
    return record


def _read_joined_file(path: str, spec: JoinSpec, ctx: ReadContext) -> tuple[Any, str]:
    """(the file's text or rows, or None; why it is None) for one per-record joined file."""
    if not path_exists(path):
        return None, "file not found"
    sub_ctx = ReadContext(ctx.dataset, ctx.split, path)
    if spec.text:
        value: Any = decode(path, sub_ctx, SourceOptions(encoding=spec.encoding))
    else:
        sub_opts = SourceOptions(file_format=spec.file_format, encoding=spec.encoding, header=spec.header,
                                 columns=spec.columns)
        value = [row for _, _, row in _raw_records(path, sub_ctx, sub_opts, set())] or None
    return value, "; ".join(r.reason for r in sub_ctx.rejects[:1]) or "no records"


__all__ = ["MISSING", "FieldSpec", "FieldValue", "JoinSpec", "MappingProblem", "SourceOptions", "Transform",
           "apply_transforms", "as_spec", "csv_records", "decode", "extract", "get_path", "is_empty",
           "iter_records", "parse_path", "source_format", "source_problem", "text_of"]
