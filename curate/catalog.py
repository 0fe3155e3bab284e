"""The catalog: which source datasets exist, how to read them, and how builds use them.

``load_catalog`` validates everything up front (keys, readers and their options, files, labels,
stages) and raises ``CatalogError`` naming the file, the key and the fix, so a build never fails
half-way on a typo.
"""

from __future__ import annotations

import glob
import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from curate.errors import CatalogError

Language = Literal["en", "zh"]
TaskName = Literal["ner", "nen", "re", "cre", "ee", "coref", "tc", "tp", "qa", "dialogue", "mt", "t2t"]
ALL_TASKS: tuple[str, ...] = TaskName.__args__  # type: ignore[attr-defined]
DIALOGUE_TASKS: tuple[str, ...] = ("qa", "dialogue")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LabelName(_Strict):
    """How a raw dataset label is shown in prompts of each language."""

    en: str
    zh: str
    kind: Literal["entity", "relation", "class", "event", "role", "other"] | None = Field(
        None, description="what the label names; needed only when a dataset mixes kinds (e.g. NER + RE)")


class TaskOptions(_Strict):
    """Per-task switches of a dataset (task decomposition, label options shown or not)."""

    decompose: bool = Field(True, description="also yield single-type examples from multi-type documents")
    list_labels: bool | None = Field(None, description="force label options on (true) or off (false)")
    multi_label_as_yesno: bool = False



# --- where a dataset's files come from (curate fetch; docs/fetching.md) ---------------------------------------------

_URL_SCHEMES = ("https://", "http://", "hf://", "s3://", "gs://", "file://")


class SourceFile(_Strict):
    """One published file: where it is (a URL, or a GitHub repository at a pinned commit and path), what its bytes
    must hash to, and where ``files:`` expect it (``local``, relative to the catalog, like ``files:``). An archive
    with ``members`` is unpacked into the folder ``local``; without members, ``local`` is the file itself."""

    url: str | None = Field(None, description="https://, http://, hf://, s3://, gs:// or file:// URL")
    github: str | None = Field(None, pattern=r"^[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+$", description="owner/repository")
    commit: str | None = Field(None, pattern=r"^[0-9a-f]{40}$", description="the pinned commit of `github`")
    path: str | None = Field(None, description="the file's path in the repository at `commit`")
    name: str | None = Field(None, description="file name as distributed (agreement-gated files: looked up in the "
                                               "folder the user passes with --from)")
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    git_blob: str | None = Field(None, pattern=r"^[0-9a-f]{40}$", description="git blob id, as SOURCE.md records")
    git_tree: str | None = Field(None, pattern=r"^[0-9a-f]{40}$",
                                 description="git tree id of the unpacked folder (archives of a repository folder)")
    size: int | None = Field(None, ge=0, description="bytes, for --dry-run and progress")
    local: str = Field(min_length=1, description="where files: expect it, relative to the catalog")
    members: list[str] = Field(default_factory=list, description="archive members (glob patterns) to unpack")
    strip: str = Field("", description="leading archive folder removed from unpacked member paths")
    unverified: bool = Field(False, description="no checksum known (taken from a homepage); fetched with a warning")

    @model_validator(mode="after")
    def _one_location(self) -> SourceFile:
        if self.url is not None and self.github is not None:
            raise ValueError("give either url or github (+ commit + path), not both")
        if self.github is not None and (self.commit is None or not self.path):
            raise ValueError("a github source needs commit (40 hex digits) and path")
        if self.url is not None and not self.url.startswith(_URL_SCHEMES):
            raise ValueError(f"url {self.url!r} must start with one of {', '.join(_URL_SCHEMES)}")
        if Path(self.local).is_absolute():
            raise ValueError(f"local {self.local!r} must be relative to the catalog, like files:")
        if self.git_tree and not self.members:
            raise ValueError("git_tree checks an unpacked folder: give the archive members to unpack")
        if not (self.sha256 or self.git_blob or self.git_tree or self.unverified):
            raise ValueError("give sha256, git_blob or git_tree, or mark the file `unverified: true`")
        return self

    @property
    def upstream(self) -> str | None:
        """The URL the bytes are published at (GitHub sources as raw.githubusercontent.com URLs)."""
        if self.github is not None:
            return f"https://raw.githubusercontent.com/{self.github}/{self.commit}/{self.path}"
        return self.url


class Agreement(_Strict):
    """A license that needs a signed agreement (n2c2/i2b2, MIMIC): never fetched without --accept-license."""

    name: str = Field(min_length=1, description="the license, e.g. n2c2 DUA, PhysioNet credentialed")
    apply_at: str = Field(min_length=1, description="where a user applies for access")


class DataSource(_Strict):
    """Where a dataset's files are published (``source:`` of a dataset)."""

    files: list[SourceFile] = Field(default_factory=list)
    unverified: bool = Field(False, description="taken from the homepage only, not checked against the bytes")
    agreement: Agreement | None = None

    @model_validator(mode="before")
    @classmethod
    def _a_list_is_files(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {"files": value}
        if isinstance(value, dict) and value.get("unverified") and isinstance(value.get("files"), list):
            value = {**value, "files": [{**f, "unverified": True} if isinstance(f, dict) else f
                                        for f in value["files"]]}
        return value

    @model_validator(mode="after")
    def _files_have_a_location(self) -> DataSource:
        for i, file in enumerate(self.files):
            if file.upstream is None and self.agreement is None:
                raise ValueError(f"files[{i}] has no url or github location")
            if self.agreement is not None and file.upstream is None and not file.name:
                raise ValueError(f"files[{i}] of an agreement-gated source needs `name` (the file as distributed)")
        return self

_FINGERPRINTS: dict[int, tuple[Any, str]] = {}
_QUALITY: dict[tuple[int, str], tuple[Any, Any]] = {}


def _without_default_cleaning(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry's dump without ``cleaning`` when it is not set: entries written before it existed keep their
    fingerprint (it is in every record's provenance)."""
    if entry.get("cleaning") is None:
        entry.pop("cleaning", None)
    return entry
_INDEXES: dict[int, tuple[Any, dict[str, Any]]] = {}


QualityFilterName = Literal["language_mismatch", "mojibake", "degenerate_responses", "copied_prompt", "min_chars",
                            "max_chars"]


class DatasetCleaning(_Strict):
    """A dataset's ``cleaning``: steps of ``output`` (overlap, near_duplicates, quality) turned off for this
    dataset alone. It can only turn off what the catalog's ``output`` turns on."""

    overlap: bool = Field(True, description="false: this dataset's training documents are not removed as "
                                            "another dataset's evaluation documents (still reported)")
    near_duplicates: bool = Field(True, description="false: this dataset's documents take no part in "
                                                    "near-duplicate detection (not hashed, never removed)")
    quality: bool = Field(True, description="false: no quality filter for this dataset")
    skip_filters: list[QualityFilterName] = Field(default_factory=list,
                                                  description="quality filters left off for this dataset")


class DatasetEntry(_Strict):
    """One source corpus in its native format."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    language: Language
    tasks: list[TaskName] = Field(min_length=1)
    format: str | None = Field(None, description="reader name; required when the entry has files")
    native_format: str = Field("", description="the corpus's native format, as published (documentation)")
    options: dict[str, Any] = Field(default_factory=dict, description="reader options, checked by the reader")
    files: dict[str, list[str]] = Field(default_factory=dict, description="split -> files relative to catalog")
    optional: bool = Field(False, description="skip with a notice instead of failing when files are missing")
    eval_splits: list[str] = Field(default_factory=list, description="splits used for evaluation only")
    train_splits: list[str] = Field(default_factory=lambda: ["train"])
    license: str = ""
    homepage: str = ""
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    sizes: dict[str, int] = Field(default_factory=dict, description="split sizes as published")
    labels: dict[str, LabelName] = Field(default_factory=dict)
    task_options: dict[TaskName, TaskOptions] = Field(default_factory=dict)
    traditional_chinese: bool | Literal["detect"] = Field(
        "detect", description="convert Traditional to Simplified Chinese: true, false, or detect per document")
    opencc_config: str = Field("t2s", description="OpenCC conversion: t2s, tw2sp (Taiwan phrases), hk2s, ...")
    cap: int | None = Field(None, ge=1, description="override the stage cap for this dataset")
    cleaning: DatasetCleaning | None = Field(None, description="cleaning steps turned off for this dataset")
    source: DataSource | None = Field(None, exclude=True,  # where bytes come from does not change what they are
                                      description="where the files come from, for `curate fetch`")

    @field_validator("files", mode="before")
    @classmethod
    def _one_file_is_a_list(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {split: [files] if isinstance(files, str) else files for split, files in value.items()}
        return value

    @property
    def has_files(self) -> bool:
        return bool(self.files)

    def cleaning_step(self, step: Literal["overlap", "near_duplicates", "quality"]) -> bool:
        """Whether this dataset leaves cleaning ``step`` on (``output`` decides whether it runs at all)."""
        return self.cleaning is None or getattr(self.cleaning, step)

    def task_option(self, task: str) -> TaskOptions:
        return self.task_options.get(task, TaskOptions())  # type: ignore[call-overload]

    def label(self, raw: str, lang: str) -> str:
        """The display name of a raw label in ``lang``; the raw label when the catalog gives none."""
        names = self.labels.get(raw)
        return getattr(names, lang) if names else raw

    def label_inventory(self, kind: str) -> list[str]:
        """Raw labels of one kind, in catalog order; labels without a kind count for every kind
        when no label is marked with that kind."""
        marked = [raw for raw, name in self.labels.items() if name.kind == kind]
        return marked or [raw for raw, name in self.labels.items() if name.kind is None]

    def fingerprint(self) -> str:
        """A short hash of this entry's settings; part of every record's provenance and cache keys."""
        cached = _FINGERPRINTS.get(id(self))
        if cached is None or cached[0] is not self:  # entries are not changed after loading
            blob = json.dumps(_without_default_cleaning(self.model_dump(mode="json")), sort_keys=True,
                              ensure_ascii=False)
            cached = _FINGERPRINTS[id(self)] = (self, hashlib.sha256(blob.encode()).hexdigest()[:16])
        return cached[1]


class Mixing(_Strict):
    """How a stage balances datasets: a cap, a temperature and target shares (see curate/build/select.py)."""

    cap: int = Field(10_000, ge=1, description="at most this many examples per dataset and task")
    temperature: float = Field(1.0, gt=0, description="1 = examples-proportional, larger = flatter")
    language_shares: dict[Language, float] = Field(default_factory=dict)
    task_shares: dict[TaskName, float] = Field(default_factory=dict)
    upsample: bool = Field(False, description="repeat small datasets with other templates to reach quota")
    cross_lingual_ratio: float = Field(0.0, ge=0, le=1, description="share of prompts in the other language")


class Stage(_Strict):
    """A training stage: which tasks and datasets go into its shards."""

    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    description: str = ""
    tasks: list[TaskName] | Literal["all"] = "all"
    datasets: list[str] | Literal["all"] = "all"
    exclude_datasets: list[str] = Field(default_factory=list)
    mixing: Mixing = Field(default_factory=Mixing)

    def uses(self, dataset: str, task: str) -> bool:
        if dataset in self.exclude_datasets:
            return False
        if self.datasets != "all" and dataset not in self.datasets:
            return False
        return self.tasks == "all" or task in self.tasks


class QualityFilters(_Strict):
    """``output.quality``: optional filters, each reported as rejects with a reason (all off unless set);
    see curate/cleaning/quality.py."""

    language_mismatch: float | None = Field(
        None, gt=0, le=1, description="reject a training document when more than this share of its words "
                                      "(Latin words, Chinese characters) is of the other script")
    mojibake: bool = Field(False, description="reject a training document with UTF-8 read as Latin-1 (Ã©, Â©) "
                                              "or replacement characters")
    degenerate_responses: bool = Field(False, description="reject a record whose response is empty, only "
                                                          "punctuation, or one token repeated")
    copied_prompt: bool = Field(False, description="reject a record whose response contains the whole prompt")
    min_chars: dict[TaskName, int] = Field(default_factory=dict,
                                      description="task -> least characters of prompt + response")
    max_chars: dict[TaskName, int] = Field(default_factory=dict,
                                      description="task -> most characters of prompt + response (below "
                                                  "output.max_chars)")

    def without(self, dataset: DatasetCleaning | None) -> QualityFilters:
        """These filters less those a dataset's ``cleaning`` turns off."""
        if dataset is None:
            return self
        if not dataset.quality:
            return QualityFilters()
        off = {"language_mismatch": None, "mojibake": False, "degenerate_responses": False, "copied_prompt": False,
               "min_chars": {}, "max_chars": {}}
        return self.model_copy(update={name: off[name] for name in dataset.skip_filters})

    @property
    def checks_documents(self) -> bool:
        return self.language_mismatch is not None or self.mojibake

    @property
    def checks_records(self) -> bool:
        return self.degenerate_responses or self.copied_prompt or bool(self.min_chars or self.max_chars)


class NearDuplicates(_Strict):
    """``output.near_duplicates``: MinHash + LSH over every example's source text (curate/cleaning)."""

    enabled: bool = Field(False, description="keep one document of each near-duplicate cluster of training "
                                             "documents; count the rest as near_duplicates")
    threshold: float = Field(0.7, gt=0, le=1, description="least estimated Jaccard similarity of a pair")
    num_perm: int = Field(128, ge=8, le=1024, description="MinHash values per document")
    bands: int = Field(32, ge=1, description="LSH bands (num_perm must be a multiple)")
    ngram_words: int = Field(5, ge=1, le=20, description="shingle length in words (English texts)")
    ngram_chars: int = Field(3, ge=1, le=20, description="shingle length in characters (Chinese texts)")
    skip_tasks: list[TaskName] = Field(["tp"], description="documents made into these tasks only are left out: a "
                                                       "text pair's label rests on the small difference that "
                                                       "makes two pairs near-duplicates")

    @model_validator(mode="after")
    def _bands_divide(self) -> NearDuplicates:
        if self.num_perm % self.bands:
            raise ValueError(f"output.near_duplicates: num_perm {self.num_perm} is not a multiple of bands "
                             f"{self.bands}; choose bands that divide it (e.g. 16 or 32 for 128)")
        return self


class Output(_Strict):
    rows_per_shard: int = Field(5_000, ge=1)
    max_chars: int = Field(6_000, ge=100, description="length budget of prompt + response, in characters")
    window_chars: int | None = Field(2_500, ge=50, description="split longer IE texts into sentence windows")
    dedup: bool = True
    decontaminate: bool = True
    ngram: int = Field(13, ge=4, description="n-gram length (words, or characters for Chinese) for decontam")
    convert_traditional: bool = True
    early_render: bool = Field(True, description="render each example's first copy while converting (phase 1), "
                                                 "for the examples a stage can still select; false: only in phase 2")
    overlap: bool = Field(True, description="report documents shared across datasets (overlap.json) and remove "
                                            "training examples of another dataset's evaluation documents")
    near_duplicates: NearDuplicates = Field(default_factory=NearDuplicates)
    quality: QualityFilters = Field(default_factory=QualityFilters)


_CLEANING_KEYS = ("overlap", "near_duplicates", "quality")


class Catalog(_Strict):
    """The whole validated catalog."""

    version: int = 1
    templates: str = "instruction_templates"
    include: list[str] = Field(default_factory=list)
    seed: int = 0
    output: Output = Field(default_factory=Output)
    stages: list[Stage] = Field(default_factory=list)
    datasets: list[DatasetEntry] = Field(default_factory=list)
    mirrors: dict[str, str] = Field(default_factory=dict, exclude=True,
                                    description="upstream URL prefix -> mirror (curate fetch)")

    # not from YAML: where the catalog was loaded from
    path: Path = Field(default=Path("catalog.yaml"), exclude=True)

    @model_validator(mode="after")
    def _names_unique(self) -> Catalog:
        for kind, names in (("datasets", [d.name for d in self.datasets]), ("stages", [s.name for s in self.stages])):
            seen: set[str] = set()
            for name in names:
                if name in seen:
                    raise ValueError(f"{kind}: name {name!r} is used twice")
                seen.add(name)
        return self

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def templates_dir(self) -> Path:
        return (self.root / self.templates).resolve()

    def dataset(self, name: str) -> DatasetEntry:
        index = _INDEXES.get(id(self))
        if index is None or index[0] is not self:  # (pydantic private attributes are slow on a hot path)
            index = _INDEXES[id(self)] = (self, {entry.name: entry for entry in self.datasets})
        return index[1][name]

    def quality_filters(self, dataset: str) -> QualityFilters:
        """The quality filters that apply to ``dataset``: ``output.quality`` less what its ``cleaning`` turns
        off (cached: asked once per rendered record)."""
        cached = _QUALITY.get((id(self), dataset))
        if cached is None or cached[0] is not self:
            filters = self.output.quality.without(self.dataset(dataset).cleaning)
            cached = _QUALITY[(id(self), dataset)] = (self, filters)
        return cached[1]

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)

    def resolve_files(self, entry: DatasetEntry, split: str) -> list[Path]:
        """The files of one split, globs expanded, sorted so every run sees the same order. A URI
        (``s3://``, ``gs://``, ``hf://``, ``https://``) stays one (see curate/storage.py)."""
        return [path for pattern in entry.files.get(split, []) for path in self.resolve_pattern(pattern)]

    def resolve_pattern(self, pattern: str) -> list[Path]:
        """The files one entry of a ``files`` list names: itself, or a glob's matches in sorted order."""
        if _is_uri(pattern):
            return [Path(m) for m in _remote_matches(pattern)]
        full = self.root / pattern
        matches = sorted(glob.glob(str(full), recursive=True)) if glob.has_magic(str(full)) else [str(full)]
        return [Path(m) for m in matches]

    def available(self, entry: DatasetEntry) -> bool:
        """True when every declared file exists (entries with no files are catalogued only)."""
        if not entry.has_files:
            return False
        return all(self.resolve_files(entry, split) and all(_exists(p) for p in self.resolve_files(entry, split))
                   for split in entry.files)

    def fingerprint(self) -> str:
        data = self.model_dump(mode="json")
        # cleaning settings left at their defaults are left out: catalogs written before they existed
        # keep their config hash
        defaults = Output().model_dump(mode="json")
        for key in _CLEANING_KEYS:
            if data["output"].get(key) == defaults[key]:
                data["output"].pop(key, None)
        data["datasets"] = [_without_default_cleaning(entry) for entry in data["datasets"]]
        blob = json.dumps(data, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _is_text_codec(name: str) -> bool:
    """Whether ``bytes.decode(name)`` works: a known codec that decodes to text (not e.g. base64)."""
    import codecs

    try:
        return codecs.lookup(name)._is_text_encoding  # type: ignore[attr-defined]
    except LookupError:
        return False


def _is_uri(text: str) -> bool:
    from curate import storage

    return storage.is_remote(text)


def _remote_matches(pattern: str) -> list[str]:
    """A remote ``files:`` entry: itself, or the files its glob (``*``, ``?``, ``[``, ``**``) matches, sorted."""
    from curate import storage

    if not glob.has_magic(pattern):
        return [pattern]
    import fnmatch

    uri = storage.display(pattern)
    base = uri[:min(uri.index(c) for c in "*?[" if c in uri)].rsplit("/", 1)[0]
    return [n for n in storage.find_files(base) if fnmatch.fnmatchcase(n, uri)]


def _exists(path: Path) -> bool:
    """A file, or an ``archive.zip!member`` read in place, exists (a URI: the object, or the archive object)."""
    from curate.readers.base import ARCHIVE_SEPARATOR, path_exists

    if _is_uri(str(path)):
        from curate import storage

        return storage.exists(str(path).split(ARCHIVE_SEPARATOR, 1)[0])

    return path_exists(str(path)) if ARCHIVE_SEPARATOR in str(path) else path.exists()


def _key_path(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    """Turn a pydantic error location into a readable key, naming datasets by name."""
    parts: list[str] = []
    node: Any = data
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and item < len(node) and isinstance(node[item], dict) and "name" in node[item]:
                label += f" ({node[item]['name']})"
            parts.append(label)
        else:
            parts.append(("." if parts else "") + str(item))
        try:
            node = node[item]
        except (KeyError, IndexError, TypeError):
            node = None
    return "".join(parts) or "(top level)"


_FIX_HINTS = {
    "extra_forbidden": "remove the key, or check its spelling against docs/catalog.md",
    "missing": "add the key (see docs/catalog.md for what it holds)",
    "literal_error": "use one of the allowed values listed above",
    "string_pattern_mismatch": "use letters, digits, '_', '-' or '.' only",
}


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str) -> Any:
    """``yaml.safe_load`` through libyaml's parser where PyYAML has it: the same documents, read about ten
    times faster (every build worker reads the catalog and the templates when it starts)."""
    return yaml.load(text, Loader=_YAML_LOADER)  # a safe loader: plain data only


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise CatalogError(str(path), "(file)", "the catalog file does not exist", "pass --catalog PATH")
    try:
        data = parse_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(yaml)"
        raise CatalogError(str(path), where, f"not valid YAML: {getattr(exc, 'problem', exc)}",
                           "fix the YAML syntax at that position") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise CatalogError(str(path), "(top level)", "the catalog must be a mapping",
                           "start the file with keys such as `datasets:` and `stages:`")
    return data


def load_catalog(path: str | Path = "catalog.yaml", *, check_files: bool = True) -> Catalog:
    """Load and validate a catalog. Included files contribute datasets (and stages) to the main one."""
    if _is_uri(str(path)):  # its relative paths (templates, files, includes) would have no folder to be relative to
        from curate import storage

        raise CatalogError(storage.display(path), "(file)", "the catalog itself must be a local file",
                           "copy it (with its templates) to the machine that runs curate and pass that path; the "
                           "datasets' files: and --out may be URIs (s3://, gs://, hf://, https://)")
    path = Path(path).resolve()
    data = _read_yaml(path)
    for include in data.get("include", []) or []:
        inc_path = (path.parent / include).resolve()
        inc = _read_yaml(inc_path)
        extra = set(inc) - {"datasets", "stages"}
        if extra:
            raise CatalogError(str(inc_path), sorted(extra)[0], "an included catalog may hold only datasets and stages",
                               "move other settings to the main catalog")
        for key in ("datasets", "stages"):
            for item in inc.get(key, []) or []:
                if isinstance(item, dict) and "files" in item and isinstance(item["files"], dict):
                    # files of an included catalog are relative to that file
                    item["files"] = {
                        split: [f if _is_uri(f) else str((inc_path.parent / f).resolve())
                                for f in ([fs] if isinstance(fs, str) else fs)]
                        for split, fs in item["files"].items()
                    }
                if isinstance(item, dict) and isinstance(item.get("source"), dict | list):
                    _rebase_source_locals(item, inc_path.parent, path.parent)
                data.setdefault(key, []).append(item)
    try:
        catalog = Catalog.model_validate({**data, "path": path})
    except ValidationError as exc:
        err = exc.errors()[0]
        kind, loc, message = err["type"], tuple(err["loc"]), err["msg"]
        if loc[-1:] == ("[key]",):  # a mapping's key (e.g. a task name in output.quality.min_chars)
            loc, message = loc[:-1], f"{loc[-2]!r} is not a valid key here: {message}"
        raise CatalogError(str(path), _key_path(loc, data), message,
                           _FIX_HINTS.get(kind, "see docs/catalog.md for the expected value")) from None
    _check_semantics(catalog, check_files=check_files)
    return catalog


def _rebase_source_locals(item: dict[str, Any], included_dir: Path, main_dir: Path) -> None:
    """Locals of an included catalog's sources are relative to that file; make them relative to the main one."""
    import os

    source = item["source"]
    files = source if isinstance(source, list) else source.get("files")
    for file in files if isinstance(files, list) else []:
        if isinstance(file, dict) and isinstance(file.get("local"), str) and not Path(file["local"]).is_absolute():
            file["local"] = os.path.relpath(included_dir / file["local"], main_dir)


def _check_uris(file: str, key: str, entry: DatasetEntry) -> None:
    """A ``files:`` URI must have a scheme curate reads (curate/storage.py) and name a bucket or host."""
    from curate import storage

    for split, patterns in entry.files.items():
        for pattern in patterns:
            try:
                storage.check_uri(pattern, f"{key}.files.{split}")
            except storage.StorageError as exc:
                raise CatalogError(file, f"{key}.files.{split}", f"{pattern}: cannot be read",
                                   str(exc).split(": ", 2)[-1]) from None


def _check_readable(file: str, key: str, entry: DatasetEntry) -> None:
    """Files the reader refuses on sight (a pickle without opt-in, a RAR archive) fail before any build."""
    from curate.readers import reader_class

    for split, patterns in entry.files.items():
        for pattern in patterns:
            problem = reader_class(entry.format or "").file_problem(pattern, entry.options)
            if problem:
                raise CatalogError(file, f"{key}.files.{split}", f"{pattern} {problem[0]}", problem[1])


def _check_semantics(catalog: Catalog, *, check_files: bool) -> None:
    from curate import storage
    from curate.readers import reader_names, validate_reader_options

    file = str(catalog.path)
    known = set(reader_names())
    for i, entry in enumerate(catalog.datasets):
        key = f"datasets[{i}] ({entry.name})"
        if entry.format is None:
            if entry.has_files:
                raise CatalogError(file, f"{key}.format", "an entry with files needs a reader",
                                   f"set format to one of: {', '.join(sorted(known))}")
            continue
        if entry.format not in known:
            raise CatalogError(file, f"{key}.format", f"unknown reader {entry.format!r}",
                               f"use one of: {', '.join(sorted(known))}")
        problem = validate_reader_options(entry.format, entry.options)
        if problem:
            raise CatalogError(file, f"{key}.options", problem, f"see docs/adding-a-dataset.md#{entry.format}")
        encoding = entry.options.get("encoding") if isinstance(entry.options, dict) else None
        if isinstance(encoding, str) and not _is_text_codec(encoding):
            raise CatalogError(file, f"{key}.options.encoding", f"unknown text encoding {encoding!r}",
                               "use a Python codec name, e.g. utf-8, utf-8-sig, gb18030, latin-1")
        for split in entry.eval_splits:
            if entry.files and split not in entry.files:
                raise CatalogError(file, f"{key}.eval_splits", f"split {split!r} has no files",
                                   f"add files.{split} or remove it from eval_splits")
        # the default train_splits ([train]) may name no file (an evaluation-only entry); a list written out may not
        for split in entry.train_splits if "train_splits" in entry.model_fields_set else []:
            if entry.files and split not in entry.files:
                raise CatalogError(file, f"{key}.train_splits", f"split {split!r} has no files",
                                   f"add files.{split} or remove it from train_splits")
        for task in entry.task_options:
            if task not in entry.tasks:
                raise CatalogError(file, f"{key}.task_options.{task}", f"{task!r} is not among the dataset's tasks",
                                   f"add {task} to tasks or remove its options")
        _check_readable(file, key, entry)
        _check_uris(file, key, entry)
        if check_files and entry.has_files and not entry.optional:
            for split in entry.files:
                files = catalog.resolve_files(entry, split)
                missing = [storage.display(p) for p in files if not _exists(p)]  # a URI with its "//"
                if not files or missing:
                    shown = missing[0] if missing else entry.files[split][0]
                    raise CatalogError(file, f"{key}.files.{split}", f"file not found: {shown}",
                                       "fix the path (relative to the catalog), or set `optional: true` to skip "
                                       "the dataset when its files are absent")
    names = {d.name for d in catalog.datasets}
    for i, stage in enumerate(catalog.stages):
        if stage.datasets != "all":
            for name in stage.datasets:
                if name not in names:
                    raise CatalogError(file, f"stages[{i}] ({stage.name}).datasets", f"unknown dataset {name!r}",
                                       "use a name from the datasets list")
        for name in stage.exclude_datasets:
            if name not in names:
                raise CatalogError(file, f"stages[{i}] ({stage.name}).exclude_datasets",
                                   f"unknown dataset {name!r}", "use a name from the datasets list")
        shares = stage.mixing.language_shares
        if shares and abs(sum(shares.values()) - 1.0) > 1e-6:
            raise CatalogError(file, f"stages[{i}] ({stage.name}).mixing.language_shares",
                               f"shares sum to {sum(shares.values()):g}, not 1", "make the shares add up to 1")
