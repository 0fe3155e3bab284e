"""Catalog files read from the Hugging Face Hub: a Hub-compatible server on 127.0.0.1, started here.

``hf://`` goes through huggingface_hub's ``HfFileSystem`` (fsspec) in pyarrow's ``PyFileSystem`` (``curate.storage``),
pointed at the server by ``HF_ENDPOINT``. The server answers the requests ``HfFileSystem`` makes to read a file of
a dataset repository (huggingface_hub 2.4): the repository's info, its tree (paginated) and the file itself (in byte
ranges), for one private repository whose files lie in a folder here; anything else it answers 501 and records.
A dataset's files given as ``hf://`` URIs must give the records of the same files read from disk, and a missing
file, repository or revision, or an endpoint nothing listens on, must fail the catalog naming the URI; a file
changed at ``main`` must be staged again.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import pytest

from curate import storage
from tests.cdr_catalog import write_cdr_catalog
from tests.test_object_storage import build_from_store_and_disk, environment

pytestmark = pytest.mark.timeout(120)  # (no Ray, and ~3 s: neither the ray nor the slow mark)

REPO_ID = "curate-test/cdr"
COMMIT = hashlib.sha1(b"curate-test/cdr commit").hexdigest()  # the repository's only commit
TOKEN = "hf_curate_test_token"  # the repository is private: every request must carry it
PAGE = 2  # tree entries per page (the Hub's is 1000): a listing of a few files takes several pages
_API = re.compile(r"/api/datasets/(?P<repo>[^/]+/[^/]+)(?:/(?P<kind>revision|tree)/(?P<rev>[^/]+)(?P<path>/[^/]+)?)?")
_RESOLVE = re.compile(r"/datasets/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)")


@dataclass
class Hub:
    """The server's repository (``REPO_ID``, its files in ``folder``) and what it was asked."""

    folder: Path
    endpoint: str = ""
    requests: list[str] = field(default_factory=list)
    unhandled: list[str] = field(default_factory=list)  # requests it does not implement (answered 501)

    @property
    def store(self) -> str:
        return f"hf://datasets/{REPO_ID}"

    def put(self, location: str, data: bytes) -> None:
        """A file into the repository (``hf://`` cannot be written to: this stands in for a push)."""
        assert location.startswith(self.store + "/"), location
        target = self.folder / location[len(self.store) + 1:]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _blob_id(data: bytes) -> str:
    """The git blob id of a file, as the Hub names a (non-LFS) file's ``oid`` and ETag."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _entry(root: Path, file: Path) -> dict[str, Any]:
    """A file or folder as the Hub's tree lists it."""
    path = file.relative_to(root).as_posix()
    if file.is_dir():
        return {"type": "directory", "oid": hashlib.sha1(path.encode()).hexdigest(), "size": 0, "path": path}
    return {"type": "file", "oid": _blob_id(file.read_bytes()), "size": file.stat().st_size, "path": path}


def _handler(hub: Hub) -> type[http.server.BaseHTTPRequestHandler]:
    class HubHandler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:  # (hf_hub_download's metadata request: HfFileSystem reads without it)
            self._unhandled()

        def do_POST(self) -> None:  # (paths-info: HfFileSystem asks it only for expanded info)
            self._unhandled()

        def do_GET(self) -> None:
            ranged = self.headers.get("Range")
            hub.requests.append(f"GET {self.path}" + (f" ({ranged})" if ranged else ""))
            url = urlsplit(self.path)
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":  # the Hub hides a private repository
                return self._error(401, "RepoNotFound", "Invalid username or password.")
            if api := _API.fullmatch(url.path):
                if not self._revision(api["repo"], api["rev"]):
                    return None
                if api["kind"] == "tree":
                    return self._tree(unquote(api["path"] or "/")[1:], parse_qs(url.query))
                return self._json({"id": REPO_ID, "sha": COMMIT, "private": True, "siblings": [
                    {"rfilename": p.relative_to(hub.folder).as_posix()} for p in sorted(hub.folder.rglob("*"))
                    if p.is_file()]})
            if resolve := _RESOLVE.fullmatch(url.path):
                if self._revision(resolve["repo"], resolve["rev"]):
                    self._file(unquote(resolve["path"]))
                return None
            return self._unhandled()

        def _revision(self, repo: str, revision: str | None) -> bool:
            if repo != REPO_ID:
                self._error(404, "RepoNotFound", "Repository not found")
                return False
            if revision is not None and unquote(revision) not in ("main", COMMIT):
                self._error(404, "RevisionNotFound", "Invalid rev id: " + unquote(revision))
                return False
            return True

        def _tree(self, path: str, query: dict[str, list[str]]) -> None:
            if query.get("expand", ["false"])[0] != "false":
                return self._unhandled()  # (lastCommit and security scans: only for expand_info)
            folder = hub.folder / path
            if not folder.is_dir():  # a file or nothing: the client then lists the parent folder
                return self._error(404, "EntryNotFound", f"{path} does not exist on 'main'")
            recursive = query.get("recursive", ["false"])[0] == "true"
            entries = [_entry(hub.folder, p) for p in sorted(folder.rglob("*") if recursive else folder.iterdir())]
            start = int(query.get("cursor", ["0"])[0])
            headers = {}
            if start + PAGE < len(entries):  # the next page, as the Hub links it
                rest = {k: v[0] for k, v in query.items()} | {"cursor": str(start + PAGE)}
                page_url = f"http://{self.headers['Host']}{urlsplit(self.path).path}?{urlencode(rest)}"
                headers["Link"] = f'<{page_url}>; rel="next"'
            self._json(entries[start:start + PAGE], headers)

        def _file(self, path: str) -> None:
            file = hub.folder / path
            if not file.is_file():
                return self._error(404, "EntryNotFound", f"{path} does not exist on 'main'")
            data = file.read_bytes()
            headers = {"ETag": f'"{_blob_id(data)}"', "X-Repo-Commit": COMMIT, "Accept-Ranges": "bytes",
                       "Content-Type": "application/octet-stream"}
            status = 200
            if ranged := self.headers.get("Range"):  # (HfFileSystem reads a file in ranges)
                match = re.fullmatch(r"bytes=(\d+)-(\d*)", ranged.strip())
                if not match:
                    return self._unhandled()
                start, end = int(match[1]), min(int(match[2] or len(data) - 1), len(data) - 1)
                if start >= len(data):
                    return self._error(416, "", "Range Not Satisfiable", {"Content-Range": f"bytes */{len(data)}"})
                status, headers["Content-Range"], data = 206, f"bytes {start}-{end}/{len(data)}", data[start:end + 1]
            self._send(status, data, headers)
            return None

        def _json(self, value: Any, headers: dict[str, str] | None = None) -> None:
            self._send(200, json.dumps(value).encode(), {"Content-Type": "application/json", **(headers or {})})

        def _error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
            codes = {"X-Error-Code": code} if code else {}
            self._send(status, json.dumps({"error": message}).encode(), {
                "Content-Type": "application/json", "X-Error-Message": message, **codes, **(headers or {})})

        def _unhandled(self) -> None:
            request = f"{self.command} {self.path}"
            hub.unhandled.append(request)
            self._error(501, "", f"the test's Hub server does not implement {request}")

        def _send(self, status: int, data: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return HubHandler


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """The Hub-compatible server in a thread on a free loopback port, and ``HF_ENDPOINT`` pointing at it with
    ``HF_TOKEN`` set and offline mode off (all restored afterwards); yields the ``Hub``."""
    from huggingface_hub import HfFileSystem, constants

    folder = tmp_path_factory.mktemp("hub")
    state = Hub(folder / "repo")
    state.folder.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.endpoint = f"http://127.0.0.1:{server.server_port}"
    env = {"HF_ENDPOINT": state.endpoint, "HF_TOKEN": TOKEN, "HF_HUB_OFFLINE": "0", "HF_HOME": str(folder / "home"),
           "HF_HUB_CACHE": str(folder / "home" / "hub"), "HF_HUB_DISABLE_TELEMETRY": "1",
           "CURATE_STORAGE_CACHE": str(folder / "cache")}
    offline = constants.HF_HUB_OFFLINE  # read from HF_HUB_OFFLINE when huggingface_hub was imported (CI sets it)
    constants.HF_HUB_OFFLINE = False
    try:
        with environment(env):
            yield state
    finally:
        constants.HF_HUB_OFFLINE = offline
        HfFileSystem.clear_instance_cache()  # (its listings of this server)
        server.shutdown()
        server.server_close()


def test_catalog_files_read_from_the_hub(hub: Hub, repo: Path, tmp_path: Path) -> None:
    """A dataset's files given as hf:// URIs (one literal, one glob) are staged into the local cache and read
    as local files: the records are those of the same files read from disk."""
    remote = build_from_store_and_disk(hub.store, repo, tmp_path, "*_test.pubtator", put=hub.put)
    from curate.build_dir import BuildDir

    # provenance names a file the glob matched by its URI, as a catalog writes it
    evaluation = BuildDir(remote.out_dir).records("eval", columns=["provenance"])
    assert {r["provenance"]["source_file"] for r in evaluation} == {f"{hub.store}/inputs/cdr/cdr_en_test.pubtator"}
    assert any(r.startswith("GET /datasets/") for r in hub.requests)  # the files came from this server
    assert not hub.unhandled


def test_a_file_at_a_pinned_revision_is_read_from_the_hub(hub: Hub, repo: Path) -> None:
    """``hf://datasets/ORG/NAME@COMMIT/...`` (as catalogs pin a corpus) reads that revision of the file."""
    data = (repo / "demo" / "data" / "cdr_en_test.pubtator").read_bytes()
    hub.put(f"{hub.store}/pinned/cdr_en_test.pubtator", data)
    uri = f"hf://datasets/{REPO_ID}@{COMMIT}/pinned/cdr_en_test.pubtator"
    assert storage.exists(uri)
    assert Path(storage.stage(uri)).read_bytes() == data
    assert storage.read_bytes(uri) == data
    assert any(f"/resolve/{COMMIT}/pinned/" in r for r in hub.requests)
    assert not hub.unhandled


def test_a_file_changed_at_main_is_staged_again(hub: Hub) -> None:
    """The Hub gives a file no modification time: the staging cache is keyed by its git blob id instead, so new
    content of the same size (a label fixed at main) is fetched again by a later build, not the old copy reused."""
    from huggingface_hub import HfFileSystem

    uri = f"{hub.store}/changing/labels.tsv"
    hub.put(uri, b"aspirin\tChemical\n")
    assert Path(storage.stage(uri)).read_bytes() == b"aspirin\tChemical\n"
    hub.put(uri, b"aspirin\tDisease_\n")
    storage._filesystems.clear()  # a later build: its filesystem lists the repository afresh
    HfFileSystem.clear_instance_cache()
    assert Path(storage.stage(uri)).read_bytes() == b"aspirin\tDisease_\n"


def test_a_glob_lists_the_repository_tree_page_by_page(hub: Hub, repo: Path, tmp_path: Path) -> None:
    """A glob over a folder of the repository: its tree is listed recursively, in pages (``PAGE`` entries each,
    the rest split by sub-folder as HfFileSystem does for a large tree), and matched as a catalog writes it."""
    from curate.catalog import load_catalog

    names = [f"many/{folder}/part-{i}.pubtator" for folder in ("a", "b") for i in range(3)] + ["many/notes.txt"]
    for name in names:
        hub.put(f"{hub.store}/{name}", name.encode())
    hub.requests.clear()
    catalog = load_catalog(write_cdr_catalog(tmp_path / "catalog.yaml", repo / "instruction_templates",
                                             {"train": f"{hub.store}/many/**/*.pubtator"}))
    files = [storage.display(p) for p in catalog.resolve_files(catalog.datasets[0], "train")]
    assert files == [f"{hub.store}/{name}" for name in sorted(names) if name.endswith(".pubtator")]
    assert any("recursive=true" in r and "cursor=" in r for r in hub.requests)  # a recursive listing's next page
    assert not hub.unhandled


@pytest.mark.parametrize("uri", [
    f"hf://datasets/{REPO_ID}/inputs/cdr/missing.pubtator",
    f"hf://datasets/{REPO_ID}/no-such-folder/*.pubtator",
    "hf://datasets/curate-test/no-such-repo/cdr_en_test.pubtator",
    f"hf://datasets/{REPO_ID}@{'0' * 40}/present/cdr.pubtator",  # a revision the repository lacks
])
def test_a_missing_file_on_the_hub_fails_the_catalog_naming_the_uri(hub: Hub, repo: Path, tmp_path: Path,
                                                                     uri: str) -> None:
    """The catalog fails with the URI as written (its "//" kept), not a traceback; staging it is a storage error."""
    from typer.testing import CliRunner

    from curate.cli import app

    hub.put(f"{hub.store}/present/cdr.pubtator", b"x")  # (at main)
    catalog = write_cdr_catalog(tmp_path / "catalog.yaml", repo / "instruction_templates", {"train": uri})
    result = CliRunner().invoke(app, ["build", "--catalog", str(catalog), "--out", str(tmp_path / "out"),
                                      "--no-progress"])
    assert result.exit_code == 1, result.output
    assert f"file not found: {uri}" in result.output
    assert "Traceback" not in result.output
    assert not hub.unhandled
    if "*" not in uri:
        with pytest.raises(storage.StorageError, match=re.escape(f"{uri}: no such file")):
            storage.stage(uri)


@pytest.mark.parametrize("name", ["cdr_en_test.pubtator", "*_test.pubtator"])
def test_an_unreachable_hub_fails_the_catalog_naming_the_uri_and_hf_endpoint(hub: Hub, repo: Path, tmp_path: Path,
                                                                             name: str) -> None:
    """Nothing listens at HF_ENDPOINT: huggingface_hub's connection error (httpx's, not an OSError) becomes a
    storage error that names the URI (a glob: its folder) and the variable, not a traceback."""
    from typer.testing import CliRunner

    from curate.cli import app

    catalog = write_cdr_catalog(tmp_path / "catalog.yaml", repo / "instruction_templates",
                                {"train": f"{hub.store}/inputs/cdr/{name}"})
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with environment({"HF_ENDPOINT": closed}):
        result = CliRunner().invoke(app, ["build", "--catalog", str(catalog), "--out", str(tmp_path / "out"),
                                          "--no-progress"])
    assert result.exit_code == 1, result.output
    assert f"error: {hub.store}/inputs/cdr" in result.output and "HF_ENDPOINT" in result.output
    assert "Traceback" not in result.output
