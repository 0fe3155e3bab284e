"""A finished build, read: its outputs, their manifests, shards and records.

The one reader of a build's folder for evaluation, export, training and generation, so that the layout
(``BUILD/manifest.json``, ``BUILD/<output>/manifest.json`` listing ``BUILD/<output>/<split>-*.parquet``)
is known in one place besides the writer (``curate.build.write``/``report``). Errors name the missing
path and the fix; the caller chooses their class (training raises its ``DataError``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from curate.build.plan import EVAL_OUTPUT
from curate.errors import CurateError


class BuildDir:
    """The folder of a finished ``curate build``."""

    def __init__(self, path: str | Path, error: type[Exception] = CurateError) -> None:
        self.path = Path(path)
        self.error = error

    def exists(self) -> bool:
        return self.path.is_dir()

    def require(self) -> BuildDir:
        """This build, or an error naming the folder when there is none."""
        if not self.path.is_dir():
            raise self.error(f"build directory {self.path} not found; run `curate build` first or pass --build DIR")
        return self

    def manifest(self) -> dict[str, Any] | None:
        """The build's top manifest, or None when it has none."""
        top = self.path / "manifest.json"
        return json.loads(top.read_text(encoding="utf-8")) if top.exists() else None

    def outputs(self) -> list[str]:
        """The outputs: ``eval`` first, then the stages (from the top manifest, else the folders)."""
        top = self.manifest()
        names = list(top.get("outputs", {})) if top else [p.parent.name for p in self.path.glob("*/manifest.json")]
        return sorted(set(names), key=lambda n: (n != EVAL_OUTPUT, n))

    def has_output(self, output: str) -> bool:
        return (self.path / output / "manifest.json").is_file()

    def output_manifest(self, output: str) -> dict[str, Any]:
        """``BUILD/<output>/manifest.json``, parsed; an error naming the path and the outputs there are."""
        path = self.path / output / "manifest.json"
        if not path.is_file():
            found = sorted(p.parent.name for p in self.path.glob("*/manifest.json"))
            raise self.error(f"{path} not found: the build {self.path} has no output {output!r} (outputs with a "
                             f"manifest: {found}); pick one of them or rebuild")
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise self.error(f"{path} is not valid JSON ({exc}); rebuild the stage") from None
        if not isinstance(manifest.get("shards"), list):
            raise self.error(f"{path} has no 'shards' list; rebuild the stage with `curate build`")
        return manifest

    def shards(self, output: str, splits: Sequence[str] | None = None) -> list[Path]:
        """Paths of the output's shards (of ``splits``; None: all), in manifest order; each must exist."""
        folder = self.path / output
        paths = []
        for shard in self.output_manifest(output)["shards"]:
            if splits is not None and shard.get("split") not in splits:
                continue
            path = folder / shard["path"]
            if not path.is_file():
                raise self.error(f"shard {path} listed in {folder / 'manifest.json'} is missing; rebuild the stage")
            paths.append(path)
        return paths

    def rows(self, output: str, splits: Sequence[str] | None = None) -> int:
        """Rows the manifest lists for the output's shards of ``splits`` (None: all)."""
        return sum(int(s.get("rows", 0)) for s in self.output_manifest(output)["shards"]
                   if splits is None or s.get("split") in splits)

    def records(self, output: str, splits: Sequence[str] | None = None,
                columns: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
        """The output's records, shard by shard in manifest order (one shard in memory at a time)."""
        import pyarrow.parquet as pq

        for path in self.shards(output, splits):
            yield from pq.read_table(path, columns=list(columns) if columns else None).to_pylist()
