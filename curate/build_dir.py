"""A finished build, read: its outputs, their manifests, shards and records.

The one reader of a build's folder for evaluation, export, training and generation, so that the layout
(``BUILD/manifest.json``, ``BUILD/<output>/manifest.json`` listing ``BUILD/<output>/<split>-*.parquet``)
is known in one place besides the writer (``curate.build.write``/``report``). Errors name the missing
path and the fix; the caller chooses their class (training raises its ``DataError``). The build may be
on an object store (``s3://bucket/prefix``, see ``curate.storage``): a build there exists once its top
manifest, written last, does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from curate import storage
from curate.build.plan import EVAL_OUTPUT
from curate.errors import CurateError


class BuildDir:
    """The folder of a finished ``curate build``."""

    def __init__(self, path: str | Path, error: type[Exception] = CurateError) -> None:
        self.path = Path(path)
        self.error = error

    def exists(self) -> bool:
        if storage.is_remote(self.path):
            return storage.exists(self.path / "manifest.json")
        return self.path.is_dir()

    def require(self) -> BuildDir:
        """This build, or an error naming the folder when there is none."""
        if not self.exists():
            raise self.error(f"build directory {storage.display(self.path)} not found; run `curate build` first "
                             "or pass --build DIR")
        return self

    def manifest(self) -> dict[str, Any] | None:
        """The build's top manifest, or None when it has none."""
        top = self.path / "manifest.json"
        return json.loads(storage.read_text(top)) if storage.exists(top) else None

    def outputs_found(self) -> list[str]:
        """The folders of the build that hold an output manifest, sorted."""
        return [name for name in storage.list_dirs(self.path) if self.has_output(name)]

    def outputs(self) -> list[str]:
        """The outputs: ``eval`` first, then the stages (from the top manifest, else the folders)."""
        top = self.manifest()
        names = list(top.get("outputs", {})) if top else self.outputs_found()
        return sorted(set(names), key=lambda n: (n != EVAL_OUTPUT, n))

    def has_output(self, output: str) -> bool:
        return storage.exists(self.path / output / "manifest.json")

    def output_manifest(self, output: str) -> dict[str, Any]:
        """``BUILD/<output>/manifest.json``, parsed; an error naming the path and the outputs there are."""
        path = self.path / output / "manifest.json"
        if not storage.exists(path):
            raise self.error(f"{storage.display(path)} not found: the build {storage.display(self.path)} has no "
                             f"output {output!r} (outputs with a manifest: {self.outputs_found()}); pick one of "
                             "them or rebuild")
        try:
            manifest = json.loads(storage.read_text(path))
        except json.JSONDecodeError as exc:
            raise self.error(f"{storage.display(path)} is not valid JSON ({exc}); rebuild the stage") from None
        if not isinstance(manifest.get("shards"), list):
            raise self.error(f"{storage.display(path)} has no 'shards' list; rebuild the stage with `curate build`")
        return manifest

    def shards(self, output: str, splits: Sequence[str] | None = None) -> list[Path]:
        """Paths of the output's shards (of ``splits``; None: all), in manifest order; each must exist."""
        folder = self.path / output
        paths = []
        for shard in self.output_manifest(output)["shards"]:
            if splits is not None and shard.get("split") not in splits:
                continue
            path = folder / shard["path"]
            if not storage.exists(path):
                raise self.error(f"shard {storage.display(path)} listed in {storage.display(folder / 'manifest.json')} "
                                 "is missing; rebuild the stage")
            paths.append(path)
        return paths

    def rows(self, output: str, splits: Sequence[str] | None = None) -> int:
        """Rows the manifest lists for the output's shards of ``splits`` (None: all)."""
        return sum(int(s.get("rows", 0)) for s in self.output_manifest(output)["shards"]
                   if splits is None or s.get("split") in splits)

    def records(self, output: str, splits: Sequence[str] | None = None,
                columns: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
        """The output's records, shard by shard in manifest order (one shard in memory at a time)."""
        for path in self.shards(output, splits):
            yield from storage.read_parquet(path, columns=list(columns) if columns else None).to_pylist()
