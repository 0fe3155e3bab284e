"""Id collisions between the files of one split, found after phase 1 from the ids it wrote."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from curate.build import intermediate
from curate.build.extract import example_file, file_stem
from curate.build.plan import ExtractUnit


def colliding_ids(units: list[ExtractUnit], work: Path,
                  hash_of: Callable[[str], int] = hash) -> dict[str, tuple[frozenset[str], str]]:
    """Per unit key: the document ids that an earlier file (in path order) of the same split has too, and
    the qualifier they get: the file's stem, or ``<stem>.<n>`` (its place in path order) where files of the
    split share a stem.

    Files are converted independently, so two files of one split may both hold a record ``17``; their
    examples would share ids, ranks and record ids (and ``curate eval`` would score one of them). Only
    such ids are qualified (``<qualifier>:<id>``); every other id stays as it is. ``hash_of``: the 64-bit
    hash that keeps the driver's memory small (any function gives the same answer; tests use a poor one)."""
    by_split: dict[tuple[str, str], list[ExtractUnit]] = defaultdict(list)
    for unit in units:
        by_split[(unit.dataset, unit.split)].append(unit)
    found: dict[str, tuple[frozenset[str], str]] = {}
    for group in by_split.values():
        if len(group) < 2:
            continue
        group = sorted(group, key=lambda u: u.file)
        stems = [file_stem(u.display_file) for u in group]
        for place, ids in _clashes(group, work, hash_of).items():
            stem = stems[place]
            found[group[place].key] = (ids, stem if stems.count(stem) == 1 else f"{stem}.{place}")
    return found


def _own_ids(unit: ExtractUnit, work: Path) -> list[str]:
    """The distinct document ids of one phase-1 file (ids of windows, ``<id>#w<n>``, are of their document)."""
    import pyarrow.compute as pc

    ids = intermediate.read_table(str(example_file(work, unit)), columns=["document_id"]).column("document_id")
    return list({doc_id.split("#w", 1)[0] for doc_id in pc.unique(ids).to_pylist()})


IDS_PER_PASS = 1 << 20  # hashes the driver holds at once (8 MB) to find those that recur


def _clashes(group: list[ExtractUnit], work: Path, hash_of: Callable[[str], int]) -> dict[int, frozenset[str]]:
    """Place in ``group`` -> the ids an earlier file of the group has too, without holding the split's ids:
    first the 64-bit hashes that occur in two files, found in passes over hash residues (a pass holds the
    hashes of one residue class, at most ~IDS_PER_PASS); then a string comparison of only the ids with such
    a hash. A hash shared by two different ids costs a comparison, never a wrong answer."""
    rows = sum(intermediate.read_table(str(example_file(work, unit)), columns=["document_id"]).num_rows
               for unit in group)  # at least as many as the ids
    passes = max(1, -(-rows // IDS_PER_PASS))
    recurring: set[int] = set()
    for residue in range(passes):
        parts = []
        for unit in group:
            own = np.unique(np.fromiter(map(hash_of, _own_ids(unit, work)), np.int64))
            parts.append(own[own % passes == residue] if passes > 1 else own)
        hashes = np.sort(np.concatenate(parts))  # each file's hashes are distinct: one met twice is in two files
        recurring.update(np.unique(hashes[1:][hashes[1:] == hashes[:-1]]).tolist())
    clashes: dict[int, frozenset[str]] = {}
    earlier: set[str] = set()  # ids with a recurring hash, of the files before this one
    for place, unit in enumerate(group) if recurring else ():
        own = [i for i in _own_ids(unit, work) if hash_of(i) in recurring]
        if shared := earlier.intersection(own):
            clashes[place] = frozenset(shared)
        earlier.update(own)
    return clashes
