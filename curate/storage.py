"""Where a build's files live: a local path or an object-storage URI, behind one small set of operations.

A *location* is a ``str`` or ``Path``. A URI (``s3://bucket/key``, ``gs://``, ``hf://``, ``https://``) keeps its
meaning after ``pathlib`` has joined it and collapsed its double slash (``Path("s3://b/out") / "x"`` is
``s3:/b/out/x``), so the build's code keeps joining locations with ``/`` whatever they are. Local paths take
the fast path they always took (``os.replace``, memory-mapped reads), byte for byte as before; a URI goes through
a ``pyarrow.fs`` filesystem: pyarrow's own ``S3FileSystem``/``GcsFileSystem`` for ``s3://``/``gs://``, fsspec
wrapped in ``PyFileSystem(FSSpecHandler(...))`` for the rest (``hf://``, ``https://``: reading only).

Object stores have no rename. A file is written whole (to a local temporary file, then one upload; a reader
never sees part of an object), and whatever marks completion (a unit's summary, a manifest) is written after
the files it vouches for: a reader trusts a file only when its marker exists. The endpoint and credentials
are pyarrow's and fsspec's usual ones (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_DEFAULT_REGION``...; ``HF_ENDPOINT``, ``HF_TOKEN`` for ``hf://``); ``storage_env`` lists those set here so
that Ray workers get them too.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from curate.errors import CurateError

WRITABLE_SCHEMES = ("s3", "gs")  # object stores a build writes to
READABLE_SCHEMES = (*WRITABLE_SCHEMES, "hf", "http", "https")
# environment a worker needs to reach the object store as the driver does (passed in Ray's runtime_env)
GCS_EMULATOR_ENV = "STORAGE_EMULATOR_HOST"  # http://host:port of a GCS emulator (the Google clients' variable)
HF_ENDPOINT_ENV = "HF_ENDPOINT"  # the Hugging Face Hub (or a mirror, or a test's server) that hf:// reads from
ENV_PREFIXES = ("AWS_", "GOOGLE_", "GCS_", "HF_", "CURATE_STORAGE", GCS_EMULATOR_ENV)
COPY_BLOCK = 8 << 20  # bytes per read when a file is copied to or from an object store
if TYPE_CHECKING:
    import numpy as np

_URI = re.compile(r"^([a-z][a-z0-9+.-]*):(?:/+(.*))?$")  # "s3:" is what pathlib leaves of "s3://"
_filesystems: dict[str, Any] = {}
_lock = threading.Lock()


class StorageError(CurateError):
    """A location cannot be used: unknown scheme, missing bucket or credentials, object missing."""


def uri_of(location: str | os.PathLike[str]) -> str | None:
    """The URI ``location`` stands for (``s3:/b/k``, as pathlib writes it, gives ``s3://b/k``), or None when it
    is a local path."""
    match = _URI.match(os.fspath(location))
    if not match or match.group(1) == "file" or (match.group(2) is None and match.group(1) not in READABLE_SCHEMES):
        return None
    return f"{match.group(1)}://{match.group(2) or ''}"


def is_remote(location: str | os.PathLike[str]) -> bool:
    return uri_of(location) is not None


def display(location: str | os.PathLike[str]) -> str:
    """The location as a user wrote it (a URI with its ``//``)."""
    return uri_of(location) or os.fspath(location)


def location(text: str | os.PathLike[str]) -> Path:
    """A location to join with ``/``: a local path made absolute, a URI kept as it is (not resolved)."""
    return Path(text) if is_remote(text) else Path(text).resolve()


def check_uri(text: str, option: str, *, write: bool = False) -> None:
    """Fail fast, naming ``option``, on a URI this module cannot use (for writing, when ``write``)."""
    uri = uri_of(text)
    if uri is None:
        return
    scheme = uri.split(":", 1)[0]
    allowed = WRITABLE_SCHEMES if write else READABLE_SCHEMES
    if scheme not in allowed:
        what = "written to" if write else "read from"
        raise StorageError(f"{option}: {uri}: {scheme}:// cannot be {what}; use a local path or one of "
                           + ", ".join(f"{s}://" for s in allowed))
    if not uri.split("://", 1)[1].split("/", 1)[0]:
        raise StorageError(f"{option}: {uri}: the URI names no bucket; write it as {scheme}://BUCKET/PREFIX")


def filesystem(location: str | os.PathLike[str]) -> tuple[Any, str]:
    """The ``pyarrow.fs`` filesystem of a URI and the path in it (one filesystem per scheme and bucket, kept)."""
    uri = uri_of(location)
    if uri is None:
        raise ValueError(f"{location} is a local path")
    scheme, rest = uri.split("://", 1)
    bucket = rest.split("/", 1)[0]
    with _lock:
        fs = _filesystems.get(f"{scheme}://{bucket}")
        if fs is None:
            fs = _new_filesystem(scheme, uri)
            _filesystems[f"{scheme}://{bucket}"] = fs
    return fs, (rest if scheme in WRITABLE_SCHEMES else uri)


def _new_filesystem(scheme: str, uri: str) -> Any:
    import pyarrow.fs as pafs

    if scheme == "gs" and os.environ.get(GCS_EMULATOR_ENV):
        # Arrow's GCS client does not read the emulator variable: point it there, without credentials
        emulator = urlsplit(os.environ[GCS_EMULATOR_ENV])
        if not emulator.netloc:
            raise StorageError(f"{GCS_EMULATOR_ENV}={os.environ[GCS_EMULATOR_ENV]} is not an address; fix: set it "
                               "to http://HOST:PORT of the GCS emulator, or unset it to use Google Cloud Storage")
        from datetime import timedelta

        return pafs.GcsFileSystem(endpoint_override=emulator.netloc, scheme=emulator.scheme or "http",
                                  anonymous=True, retry_time_limit=timedelta(seconds=30))
    if scheme in WRITABLE_SCHEMES:
        try:
            fs, _ = pafs.FileSystem.from_uri(uri)
        except (OSError, ValueError) as exc:
            raise StorageError(f"{uri}: cannot open the object store ({exc}); check AWS_ENDPOINT_URL and "
                               "the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)") from None
        return fs
    import fsspec

    options: dict[str, str] = {}
    if scheme == "hf" and os.environ.get(HF_ENDPOINT_ENV):
        # huggingface_hub reads HF_ENDPOINT once, when it is imported: the endpoint set now is passed explicitly
        options["endpoint"] = os.environ[HF_ENDPOINT_ENV].rstrip("/")
    try:
        handler = pafs.FSSpecHandler(fsspec.filesystem(scheme, **options))
    except (ImportError, ValueError) as exc:
        raise StorageError(f"{uri}: no fsspec backend for {scheme}:// ({exc}); install the one it names") from None
    return pafs.PyFileSystem(handler)


def _fail(uri: str, exc: Exception) -> StorageError:
    text = str(exc)
    if uri.startswith("hf://"):
        fix = "check the URI, HF_ENDPOINT (unset: huggingface.co) and HF_TOKEN"
    elif "NO_SUCH_BUCKET" in text or ("does not exist" in text and "bucket" in text.lower()):
        fix = "create the bucket, or fix the bucket name"
    elif "ACCESS_DENIED" in text or "credentials" in text.lower() or "403" in text:
        fix = "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL for a non-AWS store)"
    else:
        fix = "check the URI, AWS_ENDPOINT_URL and the credentials"
    return StorageError(f"{uri}: {text.splitlines()[0] if text else type(exc).__name__}; fix: {fix}")


@contextmanager
def _errors(location: str | os.PathLike[str]) -> Iterator[None]:
    """Object-store errors as StorageError naming the URI and the fix."""
    try:
        yield
    except StorageError:
        raise
    except (OSError, ValueError, *_transport_errors()) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise _fail(display(location), exc) from None


def _transport_errors() -> tuple[type[Exception], ...]:
    """The network errors that are not OSErrors: httpx's (huggingface_hub's client for hf://, ``httpx2`` in its
    2.x), of the modules already imported."""
    return tuple(module.TransportError for module in map(sys.modules.get, ("httpx", "httpx2")) if module)


def exists(location: str | os.PathLike[str]) -> bool:
    """True when a file is at ``location``."""
    if not is_remote(location):
        return os.path.isfile(location)
    import pyarrow.fs as pafs

    fs, path = filesystem(location)
    with _errors(location):
        return fs.get_file_info(path).type == pafs.FileType.File


def read_bytes(location: str | os.PathLike[str]) -> bytes:
    if not is_remote(location):
        return Path(location).read_bytes()
    fs, path = filesystem(location)
    with _errors(location), fs.open_input_stream(path) as source:
        return source.read()


def read_text(location: str | os.PathLike[str]) -> str:
    return read_bytes(location).decode("utf-8")


def makedirs(location: str | os.PathLike[str]) -> None:
    """Create a local folder (and its parents); an object store has no folders to create."""
    if not is_remote(location):
        Path(location).mkdir(parents=True, exist_ok=True)


def write_bytes(location: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` whole or not at all: locally under a temporary name then renamed; remotely one upload."""
    with output_file(location) as tmp:
        tmp.write_bytes(data)


@contextmanager
def output_file(location: str | os.PathLike[str]) -> Iterator[Path]:
    """A local path to write the file into; it appears at ``location`` when the body ends without error
    (locally renamed beside it, as always; remotely uploaded whole). A failed body leaves nothing there."""
    if not is_remote(location):
        target = Path(location)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.stem}.tmp{target.suffix}")  # numpy and pyarrow go by the suffix
        yield tmp
        os.replace(tmp, target)
        return
    handle, name = tempfile.mkstemp(prefix="curate-upload-", suffix=Path(os.fspath(location)).suffix)
    os.close(handle)
    tmp = Path(name)
    try:
        yield tmp
        upload(tmp, location)
    finally:
        with suppress(FileNotFoundError):
            tmp.unlink()


def upload(local: Path, location: str | os.PathLike[str]) -> None:
    """Copy a finished local file to ``location`` in one object write."""
    fs, path = filesystem(location)
    with _errors(location), open(local, "rb") as source, fs.open_output_stream(path) as sink:
        shutil.copyfileobj(source, sink, COPY_BLOCK)


def open_input(location: str | os.PathLike[str]) -> Any:
    """A random-access Arrow file: memory-mapped when local, read in ranges from the object store when not."""
    import pyarrow as pa

    if not is_remote(location):
        return pa.memory_map(os.fspath(location))
    fs, path = filesystem(location)
    with _errors(location):
        return fs.open_input_file(path)


def list_files(folder: str | os.PathLike[str], suffix: str = "") -> list[str]:
    """Names of the files directly in ``folder`` that end with ``suffix``, sorted; none when it is missing."""
    if not is_remote(folder):
        directory = Path(folder)
        return sorted(p.name for p in directory.glob(f"*{suffix}") if p.is_file()) if directory.is_dir() else []
    import pyarrow.fs as pafs

    fs, path = filesystem(folder)
    with _errors(folder):
        infos = fs.get_file_info(pafs.FileSelector(path.rstrip("/"), allow_not_found=True))
    return sorted(i.base_name for i in infos if i.type == pafs.FileType.File and i.base_name.endswith(suffix))


def find_files(folder: str | os.PathLike[str]) -> list[str]:
    """The URIs of the files anywhere under a remote ``folder``, sorted; none when it is missing."""
    import pyarrow.fs as pafs

    fs, path = filesystem(folder)
    scheme = display(folder).split("://", 1)[0]
    with _errors(folder):
        infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    # pyarrow's stores name a file "bucket/key" and fsspec's hf:// "datasets/org/name/key" (no scheme); http:// a URL
    return sorted(i.path if is_remote(i.path) else f"{scheme}://{i.path}" for i in infos
                  if i.type == pafs.FileType.File)


def list_dirs(folder: str | os.PathLike[str]) -> list[str]:
    """Names of the folders directly in ``folder`` (on an object store: the key prefixes), sorted."""
    if not is_remote(folder):
        directory = Path(folder)
        return sorted(p.name for p in directory.iterdir() if p.is_dir()) if directory.is_dir() else []
    import pyarrow.fs as pafs

    fs, path = filesystem(folder)
    with _errors(folder):
        infos = fs.get_file_info(pafs.FileSelector(path.rstrip("/"), allow_not_found=True))
    return sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory)


def parquet_file(location: str | os.PathLike[str]) -> Any:
    """A ``pyarrow.parquet.ParquetFile`` (its metadata read, row groups read on demand), local or remote."""
    import pyarrow.parquet as pq

    if not is_remote(location):
        return pq.ParquetFile(os.fspath(location))
    fs, path = filesystem(location)
    with _errors(location):
        return pq.ParquetFile(fs.open_input_file(path))


def read_parquet(location: str | os.PathLike[str], columns: list[str] | None = None) -> Any:
    """A parquet file as an Arrow table (some ``columns``), local or remote."""
    import pyarrow.parquet as pq

    if not is_remote(location):
        return pq.read_table(location, columns=columns)
    fs, path = filesystem(location)
    with _errors(location):
        return pq.read_table(path, columns=columns, filesystem=fs)


def remove(location: str | os.PathLike[str]) -> None:
    """Delete one file; a missing one is fine."""
    if not is_remote(location):
        with suppress(FileNotFoundError):
            os.unlink(location)
        return
    fs, path = filesystem(location)
    with suppress(FileNotFoundError), _errors(location):
        fs.delete_file(path)


def remove_tree(folder: str | os.PathLike[str]) -> None:
    """Delete a folder and everything under it; a missing one is fine."""
    if not is_remote(folder):
        shutil.rmtree(folder, ignore_errors=True)
        return
    import pyarrow.fs as pafs

    fs, path = filesystem(folder)
    with suppress(FileNotFoundError), _errors(folder):
        if fs.get_file_info(path.rstrip("/")).type == pafs.FileType.NotFound:
            return  # (Arrow's GCS client raises a plain OSError for a missing folder, its S3 client does not)
        fs.delete_dir(path.rstrip("/"))


def save_npy(location: str | os.PathLike[str], array: np.ndarray) -> None:
    """``np.save`` to a location (a ``.npy`` name), whole or not at all."""
    import numpy as np

    with output_file(location) as tmp:
        np.save(tmp, array)


def save_npz(target: str | os.PathLike[str], /, **arrays: np.ndarray) -> None:
    """``np.savez`` to a location (a ``.npz`` name), whole or not at all."""
    import numpy as np

    with output_file(target) as tmp:
        np.savez(tmp, **arrays)


def load_npy(location: str | os.PathLike[str], **kwargs: Any) -> Any:
    """``np.load`` of a location: an array (``.npy``) or a mapping of arrays (``.npz``)."""
    import numpy as np

    if not is_remote(location):
        return np.load(location, **kwargs)
    return np.load(io.BytesIO(read_bytes(location)), **kwargs)


def sha256(location: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file, local or remote, read as a stream."""
    digest = hashlib.sha256()
    with _input_stream(location) as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def _input_stream(location: str | os.PathLike[str]) -> Iterator[Any]:
    """The file read front to back: a local file, or the object store's stream."""
    if not is_remote(location):
        with open(location, "rb") as handle:
            yield handle
        return
    fs, path = filesystem(location)
    with _errors(location), fs.open_input_stream(path) as source:
        yield source


def _version(fs: Any, path: str) -> str:
    """What fsspec knows of a file's content and pyarrow's FileInfo drops (it keeps a time, which an hf:// or
    https:// file lacks), for the staging key: an hf:// file's git blob id, or an ETag; '' for pyarrow's own
    stores (their keys stay as they were)."""
    handler = getattr(fs, "handler", None)  # (a PyFileSystem over an fsspec filesystem)
    if handler is None:
        return ""
    info = handler.fs.info(path)  # (hf://: from the listing the FileInfo came from, no request)
    found = info.get("blob_id") or info.get("ETag")
    return f"\0{found}" if found else ""


def storage_env() -> dict[str, str]:
    """The variables set here that say how to reach an object store, for the Ray workers' environment."""
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith(ENV_PREFIXES)}


def cache_dir() -> Path:
    """Where remote input files are staged on this machine: CURATE_STORAGE_CACHE, else the fetch cache's
    sibling ``storage``."""
    if os.environ.get("CURATE_STORAGE_CACHE"):
        return Path(os.environ["CURATE_STORAGE_CACHE"])
    from curate.fetch import default_cache_dir

    return default_cache_dir().parent / "storage"


def stage_source(path: str) -> str:
    """A catalog's source file as a local path for its reader: a URI (of an archive, for ``archive!member``)
    is staged (``stage``); a local path is itself."""
    from curate.readers.base import ARCHIVE_SEPARATOR

    real, sep, member = path.partition(ARCHIVE_SEPARATOR)
    return stage(real) + sep + member if is_remote(real) else path


def stage(location: str | os.PathLike[str]) -> str:
    """A local path with the content of ``location``: the path itself when local; a remote file is copied
    once into a content-addressed cache on this machine (keyed by URI, size and modification time, or what
    stands in for the time: ``_version``), so the readers open a local file as always."""
    if not is_remote(location):
        return os.fspath(location)
    uri = display(location)
    fs, path = filesystem(location)
    with _errors(location):
        info = fs.get_file_info(path)
    import pyarrow.fs as pafs

    if info.type != pafs.FileType.File:
        raise StorageError(f"{uri}: no such file; fix the path, or upload the file")
    with _errors(location):
        version = _version(fs, path)
    key = hashlib.sha256(f"{uri}\0{info.size}\0{info.mtime_ns}{version}".encode()).hexdigest()[:32]
    target = cache_dir() / key / Path(path).name
    if target.is_file() and target.stat().st_size == info.size:
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    with _input_stream(location) as source, open(tmp, "wb") as sink:
        shutil.copyfileobj(source, sink, COPY_BLOCK)
    os.replace(tmp, target)
    return str(target)
