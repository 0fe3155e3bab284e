"""Id collisions between the files of one split, found after phase 1 from the ids it wrote."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from curate.build import intermediate
from curate.build.extract import example_file, file_stem
from curate.build.plan import ExtractUnit


def colliding_ids(units: list[ExtractUnit], work: Path) -> dict[str, tuple[frozenset[str], str]]:
    """Per unit key: the document ids that an earlier file (in path order) of the same split has too, and
    the qualifier they get: the file's stem, or ``<stem>.<n>`` (its place in path order) where files of the
    split share a stem.

    Files are converted independently, so two files of one split may both hold a record ``17``; their
    examples would share ids, ranks and record ids (and ``curate eval`` would score one of them). Only
    such ids are qualified (``<qualifier>:<id>``); every other id stays as it is."""
    import pyarrow.compute as pc

    by_split: dict[tuple[str, str], list[ExtractUnit]] = defaultdict(list)
    for unit in units:
        by_split[(unit.dataset, unit.split)].append(unit)
    found: dict[str, tuple[frozenset[str], str]] = {}
    for group in by_split.values():
        if len(group) < 2:
            continue
        group = sorted(group, key=lambda u: u.file)
        stems = [file_stem(u.display_file) for u in group]
        seen: set[str] = set()
        for place, (unit, stem) in enumerate(zip(group, stems, strict=True)):
            ids = intermediate.read_table(str(example_file(work, unit)), columns=["document_id"]).column("document_id")
            # ids of windows (``<id>#w<n>``) are of their document
            own = {doc_id.split("#w", 1)[0] for doc_id in pc.unique(ids).to_pylist()}
            if own & seen:
                found[unit.key] = (frozenset(own & seen), stem if stems.count(stem) == 1 else f"{stem}.{place}")
            seen |= own
    return found

