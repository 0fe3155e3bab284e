"""``curate fetch``: get a catalog's corpora from where they are published, verified, cached and safely unpacked.

Every file a dataset's ``source:`` names is downloaded once into a content-addressed cache (named by the checksum the
catalog expects), resumed with an HTTP Range request when a download was cut, verified before it is used, unpacked
(archives) without ever writing outside the target folder, and linked where the catalog's ``files:`` expect it.
Agreement-gated corpora come only from a folder the user supplies after accepting their license. Mirrors map
upstream URL prefixes to another place (a firewalled cluster's mirror, or the tests' local server).
"""

from __future__ import annotations

import fcntl
import fnmatch
import hashlib
import os
import shutil
import stat
import sys
import tarfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from curate.catalog import Agreement, Catalog, DatasetEntry, SourceFile
from curate.errors import CurateError

CHUNK = 1 << 20
HTTP_CHUNK = 1 << 16  # small enough that a cut connection loses little of what was received
DEFAULT_MAX_UNPACKED = 32 << 30  # bytes an archive may unpack to, in total, unless --max-unpacked says otherwise
MIRRORS_ENV = "CURATE_MIRRORS"  # "PREFIX=TARGET;PREFIX=TARGET"
CACHE_ENV = "CURATE_CACHE"


class FetchError(CurateError):
    """A file could not be fetched, verified, unpacked or placed; the message names the file and the fix."""

    def __init__(self, what: str, problem: str, fix: str) -> None:
        self.what, self.problem, self.fix = what, problem, fix
        super().__init__(f"{what}: {problem}\n  fix: {fix}")


def default_cache_dir() -> Path:
    """CURATE_CACHE, else the user's cache directory (XDG_CACHE_HOME, ~/.cache, ...) / curate / fetch."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    import platformdirs

    return Path(platformdirs.user_cache_dir("curate")) / "fetch"


def parse_mirrors(items: Iterable[str], origin: str) -> dict[str, str]:
    """``PREFIX=TARGET`` settings (the --mirror option, CURATE_MIRRORS) as a mapping; a malformed one fails fast."""
    mirrors: dict[str, str] = {}
    for item in items:
        prefix, sep, target = item.partition("=")
        if not sep or not prefix or not target:
            raise FetchError(origin, f"mirror {item!r} is not PREFIX=TARGET",
                             "write e.g. --mirror https://raw.githubusercontent.com/=https://mirror.internal/github/")
        mirrors[prefix] = target
    return mirrors


def apply_mirrors(url: str, mirrors: dict[str, str]) -> str:
    """The URL to download ``url`` from: the longest matching mirror prefix replaced; a plain folder as file://."""
    for prefix in sorted(mirrors, key=len, reverse=True):
        if url.startswith(prefix):
            rest, target = url[len(prefix):], mirrors[prefix]
            if "://" not in target:  # a folder: the rest of the URL is a path below it
                return (Path(target).resolve() / rest).as_uri()
            return target + rest
    return url


# --- the plan: which files, from where, to where -----------------------------------------------------------------


@dataclass(frozen=True)
class PlannedFile:
    """One source file of one dataset, resolved: upstream and effective URL, cache key and target path."""

    dataset: str
    spec: SourceFile
    upstream: str | None
    url: str | None
    target: Path
    license: str
    homepage: str
    agreement: Agreement | None

    @property
    def key(self) -> str:
        """The cache name: the expected checksum, so equal bytes are stored once whatever their URL."""
        if self.spec.sha256:
            return f"sha256-{self.spec.sha256}"
        if self.spec.git_blob:
            return f"gitblob-{self.spec.git_blob}"
        return "url-" + hashlib.sha256((self.upstream or self.spec.name or "").encode()).hexdigest()

    @property
    def unpacks(self) -> bool:
        return bool(self.spec.members)

    @property
    def unpack_key(self) -> str:
        selection = "\n".join([*self.spec.members, "strip=" + self.spec.strip])
        return f"{self.key}-{hashlib.sha256(selection.encode()).hexdigest()[:16]}"


def select_datasets(catalog: Catalog, names: list[str] | None, tags: list[str] | None) -> list[DatasetEntry]:
    """The entries to fetch: named ones, or those with a tag, or all with a source; unknown names fail fast."""
    known = {entry.name for entry in catalog.datasets}
    for name in names or []:
        if name not in known:
            raise FetchError(str(catalog.path), f"unknown dataset {name!r}",
                             "use a name from `curate catalog list`")
    chosen = [entry for entry in catalog.datasets
              if (not names or entry.name in names) and (not tags or set(tags) & set(entry.tags))]
    def has_source(entry: DatasetEntry) -> bool:  # gated sources count before their files are listed
        return entry.source is not None and bool(entry.source.files or entry.source.agreement)

    if names:
        without = [entry.name for entry in chosen if not has_source(entry)]
        if without:
            raise FetchError(str(catalog.path), f"dataset {without[0]!r} has no `source:` files",
                             "add a source: list to its entry (docs/fetching.md)")
    return [entry for entry in chosen if has_source(entry)]


def plan(catalog: Catalog, entries: list[DatasetEntry], mirrors: dict[str, str]) -> list[PlannedFile]:
    """Resolve every source file of ``entries`` (catalog mirrors, then the user's, which win)."""
    all_mirrors = {**catalog.mirrors, **mirrors}
    planned: list[PlannedFile] = []
    for entry in entries:
        assert entry.source is not None
        for spec in entry.source.files:
            upstream = spec.upstream
            planned.append(PlannedFile(
                dataset=entry.name, spec=spec, upstream=upstream,
                url=apply_mirrors(upstream, all_mirrors) if upstream else None,
                target=(catalog.root / spec.local), license=entry.license or "unknown",
                homepage=entry.homepage or "unknown", agreement=entry.source.agreement))
    return planned


# --- the cache -------------------------------------------------------------------------------------------------


class BlobCache:
    """Files by checksum (``blobs/``), downloads in progress (``partial/``) and unpacked archives (``unpacked/``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def blob(self, item: PlannedFile) -> Path:
        return self.root / "blobs" / item.key

    def partial(self, item: PlannedFile) -> Path:
        return self.root / "partial" / (item.key + ".part")

    def unpacked(self, item: PlannedFile) -> Path:
        return self.root / "unpacked" / item.unpack_key

    def ready(self, item: PlannedFile) -> Path | None:
        """Where the verified content of ``item`` lies (the blob, or its unpacked folder), if it is cached."""
        path = self.unpacked(item) if item.unpacks else self.blob(item)
        return path if path.exists() else None

    @contextmanager
    def lock(self, item: PlannedFile, waiting: Callable[[str], None]) -> Iterator[None]:
        """Hold ``item``'s file lock (``locks/KEY.lock``, an exclusive ``flock``) while its blob and unpacked
        folder are made. Two ``curate fetch`` sharing a cache would otherwise both append to one partial
        download, or one would delete the other's unpacking folder; the second now waits, then finds the
        file ready. The kernel drops the lock of a process that dies."""
        path = self.root / "locks" / (item.key + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                waiting(f"{item.dataset}: {item.spec.local}: another curate fetch is getting this file into "
                        f"{self.root}; waiting for it")
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def digests(path: Path) -> tuple[str, str]:
    """sha256 and git blob id of a file, in one read."""
    sha, blob = hashlib.sha256(), hashlib.sha1(usedforsecurity=False)
    blob.update(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            sha.update(chunk)
            blob.update(chunk)
    return sha.hexdigest(), blob.hexdigest()


def verify(path: Path, item: PlannedFile) -> None:
    """Raise naming the file, the expected and actual digest and the fix when ``path`` is not what the catalog says."""
    sha, blob = digests(path)
    for kind, expected, actual in (("sha256", item.spec.sha256, sha), ("git blob", item.spec.git_blob, blob)):
        if expected and expected != actual:
            raise FetchError(f"{item.dataset}: {item.spec.local}",
                             f"checksum mismatch from {item.url or item.spec.name}: expected {kind} {expected}, "
                             f"got {actual}",
                             "the download was removed; rerun to fetch it again. If it fails again the file changed "
                             "upstream or the mirror holds another version: check the source, then correct the "
                             f"catalog's {kind.replace(' ', '_')} for this file")


# --- downloading ---------------------------------------------------------------------------------------------


class Transfer:
    """What a download reports as it goes: the file's size once known, bytes resumed and bytes received."""

    def total(self, size: int) -> None: ...

    def resumed(self, size: int) -> None: ...

    def advance(self, size: int) -> None: ...


def _download_http(url: str, partial: Path, transfer: Transfer) -> None:
    """GET ``url`` into ``partial``, resuming from its current size with a Range request when it exists."""
    import requests

    offset = partial.stat().st_size if partial.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        with requests.get(url, headers=headers, stream=True, timeout=(15, 120)) as response:
            if response.status_code == 416 and offset:  # nothing left to send: the partial file is complete
                transfer.total(offset)
                transfer.resumed(offset)
                return
            if response.status_code not in (200, 206):
                raise FetchError(url, f"HTTP {response.status_code} {response.reason}",
                                 "check the URL in the catalog's source, or map it to a mirror with --mirror")
            if response.status_code == 200:
                offset = 0  # the server ignored the range: start over
            length = response.headers.get("Content-Length")
            if length is not None:
                transfer.total(offset + int(length))
            transfer.resumed(offset)
            with partial.open("ab" if offset else "wb") as out:
                for chunk in response.iter_content(HTTP_CHUNK):
                    out.write(chunk)
                    transfer.advance(len(chunk))
    except requests.RequestException as exc:
        raise FetchError(url, f"download interrupted ({type(exc).__name__}: {exc})",
                         "rerun `curate fetch`: it resumes from the bytes already received") from None


def _download_fsspec(url: str, partial: Path, transfer: Transfer) -> None:
    """Copy ``url`` (hf://, s3://, gs://, file://) through fsspec, resuming from the partial file's size."""
    import fsspec

    offset = partial.stat().st_size if partial.exists() else 0
    try:
        fs, path = fsspec.core.url_to_fs(url)
        size = fs.size(path)
        if size is not None:
            transfer.total(int(size))
        transfer.resumed(offset)
        with fs.open(path, "rb") as src, partial.open("ab" if offset else "wb") as out:
            if offset:
                src.seek(offset)
            while chunk := src.read(CHUNK):
                out.write(chunk)
                transfer.advance(len(chunk))
    except ImportError as exc:
        raise FetchError(url, f"no filesystem for this URL ({exc})",
                         "install the fsspec backend it names (s3fs for s3://, gcsfs for gs://), or map the URL to "
                         "a mirror with --mirror") from None
    except FileNotFoundError:
        raise FetchError(url, "not found", "check the URL in the catalog's source, or the mirror it maps to") from None
    except OSError as exc:
        raise FetchError(url, f"could not read ({exc})",
                         "rerun `curate fetch` to resume; check access rights and network") from None


def remote_size(url: str) -> int | None:
    """The size the server announces for ``url`` (HEAD, or fsspec's info), or None when it does not say."""
    try:
        if url.startswith(("http://", "https://")):
            import requests

            response = requests.head(url, allow_redirects=True, timeout=15)
            length = response.headers.get("Content-Length")
            return int(length) if response.ok and length is not None else None
        import fsspec

        fs, path = fsspec.core.url_to_fs(url)
        size = fs.size(path)
        return int(size) if size is not None else None
    except Exception:  # a size is only shown: any failure leaves it unknown
        return None


def download(url: str, partial: Path, transfer: Transfer) -> None:
    """Download ``url`` into ``partial`` (https through requests, other schemes through fsspec), resuming."""
    partial.parent.mkdir(parents=True, exist_ok=True)
    if url.startswith(("http://", "https://")):
        _download_http(url, partial, transfer)
    else:
        _download_fsspec(url, partial, transfer)


# --- unpacking ----------------------------------------------------------------------------------------------------


@dataclass
class _Member:
    name: str
    kind: str  # "file", "dir", "link", "device"
    size: int
    open: Callable[[], IO[bytes]]
    executable: bool = False


def _zip_members(archive: zipfile.ZipFile) -> Iterator[_Member]:
    for info in archive.infolist():
        mode = info.external_attr >> 16
        special = stat.S_IFMT(mode) in (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK)
        kind = "dir" if info.is_dir() else "link" if stat.S_ISLNK(mode) else "device" if special else "file"
        yield _Member(info.filename, kind, info.file_size, lambda info=info: archive.open(info), bool(mode & 0o111))


def _tar_members(archive: tarfile.TarFile) -> Iterator[_Member]:
    for info in archive:
        kind = ("dir" if info.isdir() else "file" if info.isreg() else "link" if info.issym() or info.islnk()
                else "device")

        def opener(info: tarfile.TarInfo = info) -> IO[bytes]:
            handle = archive.extractfile(info)
            assert handle is not None
            return handle
        yield _Member(info.name, kind, info.size, opener, bool(info.mode & 0o111))


def _safe_relative(name: str, strip: str) -> PurePosixPath | None:
    """The member's path below the target folder, or None when it is outside ``strip``; raises ValueError when
    the name could escape the folder (absolute, drive letter, '..')."""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or "\\" in name:
        raise ValueError("an absolute or Windows path")
    parts = PurePosixPath(name).parts
    if ".." in parts:
        raise ValueError("a path with '..'")
    if strip:
        prefix = PurePosixPath(strip).parts
        if tuple(parts[:len(prefix)]) != prefix:
            return None
        parts = parts[len(prefix):]
    return PurePosixPath(*parts) if parts else None


def unpack(archive_path: Path, dest: Path, members: list[str], strip: str, max_bytes: int, what: str) -> None:
    """Extract the members matching ``members`` (glob patterns on archive paths) into ``dest``. Refuses the whole
    archive when a selected member is absolute, climbs with '..', is a link or a device, or when the bytes written
    exceed ``max_bytes`` (counted while writing, so a lying header does not help)."""
    def hostile(member: str, why: str, fix: str = "do not use this archive; check where it came from") -> FetchError:
        return FetchError(what, f"unsafe archive member {member!r}: {why}; nothing was unpacked", fix)

    if zipfile.is_zipfile(archive_path):
        opened: Any = zipfile.ZipFile(archive_path)
        listing = _zip_members(opened)
    else:
        try:
            opened = tarfile.open(archive_path)  # noqa: SIM115 - closed below
        except tarfile.TarError:
            raise FetchError(what, "not a zip or tar archive, but the source lists members to unpack",
                             "remove `members:` for a plain file, or fix the URL") from None
        listing = _tar_members(opened)
    written = 0
    try:
        with opened:
            for member in listing:
                if not any(fnmatch.fnmatchcase(member.name, pattern) for pattern in members):
                    continue
                try:
                    relative = _safe_relative(member.name, strip)
                except ValueError as exc:
                    raise hostile(member.name, str(exc)) from None
                if member.kind in ("link", "device"):
                    raise hostile(member.name, f"a {'link' if member.kind == 'link' else 'device file'}")
                if relative is None:
                    continue
                out_path = dest.joinpath(*relative.parts)
                if member.kind == "dir":
                    out_path.mkdir(parents=True, exist_ok=True)
                    continue
                if written + member.size > max_bytes:
                    raise hostile(member.name, f"unpacking would exceed {max_bytes:,} bytes",
                                  "raise the bound with --max-unpacked BYTES if the archive is trusted")
                out_path.parent.mkdir(parents=True, exist_ok=True)
                with member.open() as src, out_path.open("wb") as out:
                    while chunk := src.read(CHUNK):
                        written += len(chunk)
                        if written > max_bytes:
                            raise hostile(member.name, f"unpacking exceeds {max_bytes:,} bytes",
                                          "raise the bound with --max-unpacked BYTES if the archive is trusted")
                        out.write(chunk)
                if member.executable:
                    out_path.chmod(0o755)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        if isinstance(exc, FetchError):
            raise
        raise FetchError(what, f"the archive is damaged ({exc})", "delete it from the cache and rerun") from None


# --- placing ----------------------------------------------------------------------------------------------------


def in_place(item: PlannedFile, content: Path) -> bool:
    """True when the target already links to the cached content."""
    target = item.target
    return target.is_symlink() and Path(os.readlink(target)) == content


def place(item: PlannedFile, content: Path) -> None:
    """Link the target to the cached content; never overwrite a user's own file or folder."""
    target = item.target
    if target.is_symlink():
        target.unlink()  # a link of an earlier fetch (another version): replace it
    elif target.exists():
        if target.is_file() and not item.unpacks and content.is_file() and digests(target) == digests(content):
            return  # the user's own copy, with the right bytes
        raise FetchError(f"{item.dataset}: {target}", "exists and is not the fetched content",
                         "move or delete it, then rerun `curate fetch`")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        target.symlink_to(content, target_is_directory=content.is_dir())
    except OSError:  # a filesystem without links: copy
        if content.is_dir():
            shutil.copytree(content, target)
        else:
            shutil.copy2(content, target)


# --- the command ---------------------------------------------------------------------------------------------


@dataclass
class FetchResult:
    """What a fetch did per file (state: in place, placed, would download, refused, failed) and its errors."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[FetchError] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    downloaded: int = 0  # bytes received in this run
    resumed: int = 0  # bytes of earlier partial downloads reused


@dataclass
class FetchOptions:
    datasets: list[str] | None = None
    tags: list[str] | None = None
    cache: Path | None = None
    dry_run: bool = False
    offline: bool = False
    accept_licenses: list[str] = field(default_factory=list)
    licensed_from: Path | None = None
    mirrors: dict[str, str] = field(default_factory=dict)
    max_unpacked: int = DEFAULT_MAX_UNPACKED
    progress: bool = True


def _row(item: PlannedFile, state: str, size: int | None = None) -> dict[str, Any]:
    return {"dataset": item.dataset, "local": item.spec.local, "state": state,
            "bytes": size if size is not None else item.spec.size, "from": item.url or item.spec.name or ""}


def _gated_refusal(dataset: str, agreement: Agreement) -> FetchError:
    return FetchError(dataset, f"its license needs a signed agreement ({agreement.name}); not fetched",
                      f"apply at {agreement.apply_at}; once approved, download the files yourself and run "
                      f"`curate fetch --dataset {dataset} --accept-license {dataset} --from DIR` "
                      "with DIR the folder holding them")


def fetch(catalog: Catalog, options: FetchOptions) -> FetchResult:
    """Fetch, verify, cache, unpack and place the source files of the selected datasets (see the module doc)."""
    env_mirrors = parse_mirrors([m for m in os.environ.get(MIRRORS_ENV, "").split(";") if m], MIRRORS_ENV)
    entries = select_datasets(catalog, options.datasets, options.tags)
    items = plan(catalog, entries, {**env_mirrors, **options.mirrors})
    cache = BlobCache((options.cache or default_cache_dir()).resolve())
    result = FetchResult()
    accepted = set(options.accept_licenses)
    todo: list[PlannedFile] = []
    refused: set[str] = set()
    for entry in entries:
        agreement = entry.source.agreement if entry.source is not None else None
        if agreement is not None and not entry.source.files:  # type: ignore[union-attr]
            refused.add(entry.name)
            if {entry.name, agreement.name} & accepted:
                result.errors.append(FetchError(entry.name, "the catalog lists no files for this gated source",
                                                "add them under source.files (name, local and a checksum)"))
            else:
                result.errors.append(_gated_refusal(entry.name, agreement))
    for item in items:
        content = cache.ready(item)
        if content is not None and in_place(item, content):
            result.rows.append(_row(item, "in place"))
        elif item.agreement is not None and not ({item.dataset, item.agreement.name} & accepted):
            result.rows.append(_row(item, "refused (agreement)"))
            if item.dataset not in refused:
                refused.add(item.dataset)
                result.errors.append(_gated_refusal(item.dataset, item.agreement))
        else:
            todo.append(item)
    if options.dry_run:
        for item in todo:
            cached = cache.ready(item) is not None
            size = item.spec.size
            if size is None and not cached and not options.offline and item.url and item.agreement is None:
                size = remote_size(item.url)
            result.rows.append(_row(item, "cached, would link" if cached else "would download", size))
        return result
    if options.offline:
        missing = [item for item in todo if cache.ready(item) is None and item.agreement is None]
        for item in missing:
            result.rows.append(_row(item, "missing (offline)"))
            result.errors.append(FetchError(f"{item.dataset}: {item.spec.local}", f"not in the cache {cache.root}",
                                            f"run `curate fetch` without --offline where {item.upstream} can be "
                                            "reached (or a --mirror holding it), with the same --cache"))
        todo = [item for item in todo if item not in missing]
    _show_licenses([item for item in todo if cache.ready(item) is None], result)
    downloads = any(cache.ready(item) is None for item in todo)
    with _ProgressDisplay(options.progress and downloads, todo, cache) as display:
        for item in todo:
            try:
                content = _obtain(item, cache, options, display)
                place(item, content)
                result.rows.append(_row(item, "placed"))
            except FetchError as exc:
                result.rows.append(_row(item, "failed"))
                result.errors.append(exc)
            except OSError as exc:  # a full disk, a folder without write permission
                result.rows.append(_row(item, "failed"))
                result.errors.append(FetchError(f"{item.dataset}: {item.spec.local}", f"could not write: {exc}",
                                                f"check free space and permissions of {cache.root} and "
                                                f"{item.target.parent}, then rerun"))
        result.downloaded, result.resumed = display.downloaded, display.resumed_bytes
    failed = {row["dataset"] for row in result.rows if row["state"] not in ("placed", "in place")}
    for entry in entries:
        if entry.has_files and entry.name not in failed and not catalog.available(entry):
            result.errors.append(FetchError(
                f"{catalog.path}: dataset {entry.name}", "every source file is in place, but files: still name "
                "files that do not exist", "make the sources' `local` names match the files: patterns"))
    return result


def _show_licenses(new: list[PlannedFile], result: FetchResult) -> None:
    """The license of every dataset about to be downloaded for the first time (shown before the download)."""
    seen: set[str] = set()
    for item in new:
        if item.dataset not in seen:
            seen.add(item.dataset)
            result.notices.append(f"{item.dataset}: license {item.license} (homepage {item.homepage})")
    if result.notices:
        print("licenses of the datasets about to be downloaded (you accept them by using the data):",
              file=sys.stderr)
        for line in result.notices:
            print("  " + line, file=sys.stderr)


def _obtain(item: PlannedFile, cache: BlobCache, options: FetchOptions, display: _ProgressDisplay) -> Path:
    """The verified cached content of ``item``: downloaded (or copied from --from for gated files) when absent."""
    ready = cache.ready(item)
    if ready is not None:
        return ready
    with cache.lock(item, display.note):
        return cache.ready(item) or _make(item, cache, options, display)  # (another fetch may have made it)


def _make(item: PlannedFile, cache: BlobCache, options: FetchOptions, display: _ProgressDisplay) -> Path:
    """``_obtain``'s work, under the item's lock."""
    blob = cache.blob(item)
    if not blob.exists():
        partial = cache.partial(item)
        if item.agreement is not None:
            _copy_licensed(item, partial, options.licensed_from)
        else:
            if options.offline:
                raise FetchError(item.spec.local, "not cached", "rerun without --offline")
            assert item.url is not None
            display.start(item)
            download(item.url, partial, display)
        try:
            verify(partial, item)
        except FetchError:
            partial.unlink(missing_ok=True)
            raise
        if item.spec.unverified and not (item.spec.sha256 or item.spec.git_blob):
            display.note(f"{item.dataset}: {item.spec.local} has no checksum in the catalog (unverified source)")
        blob.parent.mkdir(parents=True, exist_ok=True)
        partial.chmod(0o444)
        os.replace(partial, blob)
    if not item.unpacks:
        return blob
    final = cache.unpacked(item)
    staging = final.with_name(final.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        unpack(blob, staging, item.spec.members, item.spec.strip, options.max_unpacked,
               f"{item.dataset}: {item.spec.local} ({item.url or item.spec.name})")
        if item.spec.git_tree and (actual := git_tree(staging)) != item.spec.git_tree:
            raise FetchError(f"{item.dataset}: {item.spec.local}",
                             f"checksum mismatch of the unpacked folder: expected git tree {item.spec.git_tree}, "
                             f"got {actual}",
                             "check members and strip (the folder must be the repository folder, whole), or "
                             "correct the catalog's git_tree")
    except FetchError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    os.replace(staging, final)
    return final


def git_tree(folder: Path) -> str:
    """The git tree id of a folder (files 100644, or 100755 when executable; empty folders left out, as git does)."""
    return _tree(folder) or hashlib.sha1(b"tree 0\0", usedforsecurity=False).hexdigest()


def _tree(folder: Path) -> str | None:
    entries: list[tuple[bytes, bytes]] = []
    for child in folder.iterdir():
        name = child.name.encode()
        if child.is_dir():
            sub = _tree(child)
            if sub is not None:
                entries.append((name + b"/", b"40000 " + name + b"\0" + bytes.fromhex(sub)))
        else:
            mode = b"100755" if child.stat().st_mode & 0o111 else b"100644"
            entries.append((name, mode + b" " + name + b"\0" + bytes.fromhex(digests(child)[1])))
    if not entries:
        return None
    body = b"".join(entry for _, entry in sorted(entries))
    return hashlib.sha1(b"tree %d\0" % len(body) + body, usedforsecurity=False).hexdigest()


def _copy_licensed(item: PlannedFile, partial: Path, licensed_from: Path | None) -> None:
    """An agreement-gated file comes only from the folder the user names: never from the network."""
    name = item.spec.name or PurePosixPath(item.spec.local).name
    if licensed_from is None:
        raise FetchError(f"{item.dataset}: {name}", "agreement-gated files are taken only from a folder you supply",
                         f"download {name} after approval and pass --from DIR")
    source = licensed_from / name
    if not source.is_file():
        raise FetchError(f"{item.dataset}: {name}", f"not found in {licensed_from}",
                         f"put {name} (as distributed after approval) in {licensed_from}")
    partial.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, partial)


class _ProgressDisplay(Transfer):
    """Per-file and total byte progress on stderr (rich); silent when disabled. Counts the bytes received."""

    def __init__(self, enabled: bool, items: list[PlannedFile], cache: BlobCache) -> None:
        self.enabled = enabled
        self.expected = sum(item.spec.size or 0 for item in items if cache.ready(item) is None)
        self.downloaded = 0
        self.resumed_bytes = 0
        self._progress: Any = None
        self._overall: Any = None
        self._current: Any = None

    def __enter__(self) -> _ProgressDisplay:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                      TransferSpeedColumn(), console=Console(stderr=True))
            self._progress.__enter__()
            self._overall = self._progress.add_task("total", total=self.expected or None)
        return self

    def start(self, item: PlannedFile) -> None:
        if self._progress is not None:
            if self._current is not None:
                self._progress.remove_task(self._current)
            self._current = self._progress.add_task(f"{item.dataset}: {PurePosixPath(item.spec.local).name}",
                                                    total=item.spec.size)

    def total(self, size: int) -> None:
        if self._progress is not None and self._current is not None:
            self._progress.update(self._current, total=size)

    def resumed(self, size: int) -> None:
        self.resumed_bytes += size
        self._show(size)

    def advance(self, size: int) -> None:
        self.downloaded += size
        self._show(size)

    def _show(self, size: int) -> None:
        if self._progress is not None:
            self._progress.update(self._overall, advance=size)
            if self._current is not None:
                self._progress.update(self._current, advance=size)

    def note(self, text: str) -> None:
        print("warning: " + text, file=sys.stderr)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)
