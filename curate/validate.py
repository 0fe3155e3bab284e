"""``curate validate``: read every dataset of a catalog and count what comes out, without building.

One row per dataset and split: documents, annotations, examples and rejects, so a user sees what a
build would get (and what it would lose) before spending cluster time. Every example's first copy is
rendered too, so examples a build would reject (``too_long``: over ``output.max_chars``;
``unrenderable``: any other render failure) show up here.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from curate.build import plan_units
from curate.catalog import Catalog
from curate.convert import UnitScan
from curate.normalize import normalize_document
from curate.render import render_example
from curate.templates import load_templates


def validate_catalog(catalog: Catalog, datasets: list[str] | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows per (dataset, split), in catalog order, and the notices about skipped entries."""
    notices: list[str] = []
    units, _ = plan_units(catalog, notices)
    order = {entry.name: i for i, entry in enumerate(catalog.datasets)}
    units = sorted((u for u in units if datasets is None or u.dataset in datasets),
                   key=lambda u: (order[u.dataset], u.split, u.file))
    rows: dict[tuple[str, str], Counter[str]] = {}
    library = load_templates(catalog.templates_dir)
    for unit in units:
        normalize = normalize_document if catalog.output.convert_traditional else None
        scan = UnitScan(unit, catalog.dataset(unit.dataset), normalize, catalog.output.window_chars)
        counts = rows.setdefault((unit.dataset, unit.split), Counter())
        for example in scan.examples():
            record, reason = render_example(example, 0, catalog, library, catalog.seed)
            if record is None:
                counts["too_long" if reason.startswith("too long") else "unrenderable"] += 1
        summary = scan.summary()
        counts["files"] += 1
        counts["documents"] += summary["documents"]
        counts["rejected"] += summary["rejected"]
        counts["annotations_dropped"] += summary["annotations_dropped"]
        counts["annotations_repaired"] += summary["annotations_repaired"]
        counts["annotations_over_budget"] += summary["annotations_over_budget"]
        counts["examples"] += summary["examples"]
        for key, value in summary["stats"].items():
            counts[key] += value
    result = []
    for (dataset, split), counts in rows.items():
        row: dict[str, Any] = {"dataset": dataset, "split": split}
        for key in ("documents", "entities", "relations", "events", "examples", "rejected"):
            row[key] = counts.pop(key, 0)
        row.update(sorted(counts.items()))
        result.append(row)
    return result, notices
