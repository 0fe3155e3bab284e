"""Shared by the round-trip tests: every example of a catalog's datasets, rendered and parsed back.

Reads with the build's own phase-1 code (reader, normalization, task examples), so the property is
checked on exactly the examples a build renders.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from curate.build.extract import process_unit
from curate.build.plan import plan_units
from curate.catalog import Catalog, DatasetEntry
from curate.normalize import normalize_document
from curate.tasks import get_task
from curate.tasks.base import Example, canonical_json
from curate.templates import TemplateLibrary

ROOT = Path(__file__).resolve().parents[1]
SHARED_CATALOG = ROOT / "tests" / "catalogs" / "shared.yaml"


def dataset_examples(catalog: Catalog, entry: DatasetEntry) -> Iterator[Example]:
    units = [u for u in plan_units(catalog, [])[0] if u.dataset == entry.name]
    for unit in sorted(units, key=lambda u: u.key):
        rows, _ = process_unit(unit, entry, normalize_document)
        for row in rows:
            yield Example.from_row(row)


def formats_for(example: Example, library: TemplateLibrary) -> set[str]:
    """Every answer format a build can write for this example: the templates' and the task default."""
    task = get_task(example.task)
    assert task is not None
    found = {task.format_for(example)}
    for template in library.eligible(example.task, example.subtask, has_labels=True):
        found.add(template.spec.answer_format or task.format_for(example))
    return found


def round_trip_failures(catalog: Catalog, entry: DatasetEntry, library: TemplateLibrary,
                        limit: int = 5) -> tuple[int, int, list[str]]:
    """(examples checked, failures, the first ``limit`` failures as readable lines), both prompt languages."""
    checked, failed, shown = 0, 0, []
    for example in dataset_examples(catalog, entry):
        task = get_task(example.task)
        assert task is not None
        checked += 1
        for fmt in sorted(formats_for(example, library)):
            for lang in ("en", "zh"):
                text = task.render_answer(example, entry, lang, fmt)
                parsed = task.parse_answer(text, example, entry, lang, fmt)
                if canonical_json(parsed) == canonical_json(example.gold):
                    continue
                failed += 1
                if len(shown) < limit:
                    where = (f"{example.dataset}/{example.task}/{example.subtask} {example.document_id} "
                             f"{fmt} {lang}")
                    shown.append(f"{where}: gold {canonical_json(example.gold)[:300]} parsed "
                                 f"{canonical_json(parsed)[:300]} from {text[:300]!r}")
    return checked, failed, shown
