"""Plan: the units of a build, one per source file of a dataset split, and what each renders early.

The first step of the flow: it reads only the catalog (no source file is opened), so every later step
gets its work as plain values that any process can run.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass

from curate import storage
from curate.catalog import Catalog, DatasetEntry, Stage
from curate.tasks.base import stable_hash

EVAL_OUTPUT = "eval"  # the output that holds every evaluation split, whole


@dataclass(frozen=True)
class EarlyRender:
    """Which examples phase 1 renders (their first copy) while it converts them, so that phase 2 only
    filters: those of ``tasks`` that a stage can still select, with that stage's cross-lingual ratio.

    A stage takes at most ``cap`` examples of a dataset × task, those of lowest rank. The ``cap`` lowest
    ranks of the whole dataset are all among the ``cap`` lowest of the file they come from, so a file
    renders only the examples that are among its own ``cap`` lowest ranks when they arrive (a running
    heap): never more than ``cap`` per task plus those later pushed out. ``cap`` None renders every
    example (evaluation splits). Rendering early or late gives the same record, so this changes speed,
    never bytes."""

    tasks: frozenset[str]
    cross_lingual_ratio: float = 0.0
    cap: int | None = None
    # phase 2 renders from an example's fields only for extra copies (upsampling) or with another
    # cross-lingual ratio; when no stage does either, the fields are not written at all
    keep_fields: bool = True
    # near-duplicate removal after phase 1 can make a stage take an example past a file's cap lowest ranks:
    # those not rendered early keep their fields (the rendered ones never need them: one copy, one ratio)
    fields_unless_rendered: bool = False



@dataclass(frozen=True)
class ExtractUnit:
    """One file of one split of one dataset."""

    dataset: str
    split: str
    file: str  # absolute path, or archive!member
    display_file: str  # as the catalog names it, for rejects and provenance
    early: EarlyRender | None = None  # what to render while converting; None: nothing
    # ids of documents that an earlier file of the same split has too, read as ``<qualifier>:<id>``
    qualify: frozenset[str] = frozenset()
    qualifier: str = ""
    # its place among the split's files as the catalog lists them (globs sorted): orders the files where the
    # order reaches an output (the cleaning plan numbers documents file by file), since ``key`` hashes the
    # absolute path and sorting by it made near-duplicate choices depend on where the corpus lies
    position: int = 0

    @property
    def catalog_order(self) -> tuple[str, str, int]:
        """Dataset, split and place in the catalog: the same wherever the corpus and the build lie."""
        return self.dataset, self.split, self.position

    @property
    def key(self) -> str:
        return stable_hash(self.dataset, self.split, self.file, length=16)





def display_name(pattern: str, path: str, catalog: Catalog) -> str:
    """A file as rejects and provenance name it: as the catalog's ``files`` entry names it, and a file a
    relative glob matched relative to the catalog's folder, so that the same catalog and corpus give the same
    shards wherever they lie. (Glob matches were named by their absolute path, and a split's files were
    paired with its patterns by position, so a file after a glob took the name of another pattern.)"""
    if storage.is_remote(path):
        return storage.display(path)  # (pathlib writes ``s3:/b/k``: the URI as written has ``s3://``)
    if not glob.has_magic(pattern):
        return pattern
    return path if os.path.isabs(pattern) else os.path.relpath(path, catalog.root)


def early_render(catalog: Catalog, entry: DatasetEntry, split: str, stages: list[Stage]) -> EarlyRender | None:
    """What phase 1 renders of a split while converting it (see EarlyRender): every example of an
    evaluation split; of a training split, the examples the stages that use it may select, with the
    first such stage's cross-lingual ratio (a stage with another ratio renders in phase 2)."""
    if not catalog.output.early_render:
        return None
    if split in entry.eval_splits:  # rendered once, as phase 1 renders them
        return EarlyRender(frozenset(entry.tasks), keep_fields=False)
    if split not in entry.train_splits:
        return None
    using = [s for s in stages if any(s.uses(entry.name, t) for t in entry.tasks)]
    if not using:
        return None
    tasks = frozenset(t for t in entry.tasks if any(s.uses(entry.name, t) for s in using))
    # a stage takes at most its cap of a dataset × task (the entry's own cap first), upsampled or not
    cap = max(entry.cap or s.mixing.cap for s in using)
    ratio = using[0].mixing.cross_lingual_ratio
    keep_fields = any(s.mixing.upsample or s.mixing.cross_lingual_ratio != ratio for s in using)
    # near-duplicates are removed after phase 1: a stage may then take examples past a file's cap lowest
    near = catalog.output.near_duplicates.enabled and entry.cleaning_step("near_duplicates")
    return EarlyRender(tasks, ratio, cap, keep_fields, fields_unless_rendered=near and not keep_fields)


def plan_units(catalog: Catalog, notices: list[str],
               stages: list[Stage] | None = None) -> tuple[list[ExtractUnit], list[DatasetEntry]]:
    units: list[ExtractUnit] = []
    used: list[DatasetEntry] = []
    for entry in catalog.datasets:
        if not entry.has_files:
            notices.append(f"{entry.name}: catalogued only (no files); skipped")
            continue
        if not catalog.available(entry):
            notices.append(f"{entry.name}: files not present (optional); skipped")
            continue
        used.append(entry)
        for split in sorted(entry.files):
            early = early_render(catalog, entry, split, catalog.stages if stages is None else stages)
            files = [(pattern, str(path)) for pattern in entry.files[split]
                     for path in catalog.resolve_pattern(pattern)]
            for index, (pattern, path) in enumerate(files):
                units.append(ExtractUnit(entry.name, split, path, display_name(pattern, path, catalog), early,
                                         position=index))
    # biggest files first: better balance across actors
    units.sort(key=lambda u: (-file_size(u.file), u.key))
    return units, used


def file_size(path: str) -> int:
    try:
        return os.path.getsize(path.split("!")[0])
    except OSError:
        return 0

