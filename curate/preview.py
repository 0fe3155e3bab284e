"""Render a few examples of one dataset, for a person to read (``curate templates preview``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curate.build.extract import process_unit
from curate.build.plan import plan_units
from curate.build.record import render_example
from curate.catalog import load_catalog
from curate.errors import CurateError
from curate.normalize import normalize_document
from curate.tasks.base import Example, selection_rank
from curate.templates import load_templates


def preview(catalog_path: str | Path, dataset: str, n: int, seed: int) -> list[dict[str, Any]]:
    catalog = load_catalog(catalog_path)
    try:
        catalog.dataset(dataset)
    except KeyError:
        raise CurateError(f"{catalog.path}: no dataset named {dataset!r}; see `curate catalog list`") from None
    library = load_templates(catalog.templates_dir)
    units = [u for u in plan_units(catalog, [])[0] if u.dataset == dataset]
    if not units:
        raise CurateError(f"{catalog.path}: dataset {dataset!r} has no files to preview")
    examples: list[Example] = []
    for unit in sorted(units, key=lambda u: u.key):
        rows, _ = process_unit(unit, catalog.dataset(dataset), normalize_document)
        examples.extend(Example.from_row(r) for r in rows)
    examples.sort(key=lambda e: selection_rank(seed, e.example_id))
    records = []
    for example in examples:
        record, _ = render_example(example, 0, catalog, library, seed)
        if record is not None:
            records.append(record)
        if len(records) >= n:
            break
    return records
