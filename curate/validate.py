"""``curate validate``: read every dataset of a catalog and count what comes out, without building.

One row per dataset and split: documents, annotations, examples and rejects, so a user sees what a
build would get (and what it would lose) before spending cluster time. Each row also says where the
records went (``records_read = documents + rejected``), which reasons rejected, dropped or repaired
them (grouped, with one example each), and why a split or a task yields no examples. Every example's
first copy is rendered too, so examples a build would reject (``too_long``: over ``output.max_chars``;
``unrenderable``: any other render failure) show up here.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from curate.build.extract import UnitScan
from curate.build.plan import plan_units
from curate.build.record import render_example
from curate.catalog import Catalog, DatasetEntry
from curate.normalize import normalize_document
from curate.tasks import get_task
from curate.templates import load_templates

TOP_REASONS = 5  # reject reasons listed per row, most frequent first
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|\[[^\]]*\]|\{[^}]*\}")
_NUMBER = re.compile(r"\d+")


def reason_pattern(reason: str) -> str:
    """A reject reason without its particulars (quoted values, numbers), so that like reasons group."""
    return _NUMBER.sub("N", _QUOTED.sub("…", reason))


class _DocumentTally:
    """Counts, per unit, what the row needs that the build's summary does not keep: document kinds,
    discontinuous entities and which tasks accept the documents. Called as UnitScan's normalize hook."""

    def __init__(self, entry: DatasetEntry, normalize: bool) -> None:
        self.tasks = {name: get_task(name) for name in entry.tasks}
        self.normalize = normalize
        self.kinds: Counter[str] = Counter()
        self.accepted: Counter[str] = Counter()
        self.discontinuous = 0
        self.normalized_entities = 0
        self.labeled = 0

    def __call__(self, doc: Any, entry: DatasetEntry, ctx: Any) -> Any:
        if self.normalize:
            doc = normalize_document(doc, entry, ctx)
            if doc is None:
                return None
        self.kinds[doc.kind] += 1
        for name, task in self.tasks.items():
            if task is not None and task.accepts(doc):
                self.accepted[name] += 1
        if doc.kind == "ie":
            self.discontinuous += sum(1 for e in doc.entities if len(e.offsets) > 1)
            self.normalized_entities += sum(1 for e in doc.entities if e.normalized)
        elif doc.kind == "tc":
            self.labeled += bool(doc.labels)
        elif doc.kind == "tp":
            self.labeled += bool(doc.label)
        return doc


def validate_catalog(catalog: Catalog, datasets: list[str] | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows per (dataset, split), in catalog order, and the notices about skipped entries."""
    notices: list[str] = []
    units, _ = plan_units(catalog, notices)
    order = {entry.name: i for i, entry in enumerate(catalog.datasets)}
    units = sorted((u for u in units if datasets is None or u.dataset in datasets),
                   key=lambda u: (order[u.dataset], u.split, u.file))
    rows: dict[tuple[str, str], Counter[str]] = {}
    details: dict[tuple[str, str], dict[str, Any]] = {}
    library = load_templates(catalog.templates_dir)
    for unit in units:
        entry = catalog.dataset(unit.dataset)
        tally = _DocumentTally(entry, catalog.output.convert_traditional)
        scan = UnitScan(unit, entry, tally, catalog.output.window_chars)
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
        detail = details.setdefault((unit.dataset, unit.split), {
            "kinds": Counter(), "accepted": Counter(), "discontinuous": 0, "normalized": 0, "labeled": 0,
            "rejects": []})
        detail["kinds"] += tally.kinds
        detail["accepted"] += tally.accepted
        detail["discontinuous"] += tally.discontinuous
        detail["normalized"] += tally.normalized_entities
        detail["labeled"] += tally.labeled
        detail["rejects"] += summary["rejects"]
    result = []
    for (dataset, split), counts in rows.items():
        row: dict[str, Any] = {"dataset": dataset, "split": split}
        for key in ("documents", "entities", "relations", "events", "examples", "rejected"):
            row[key] = counts.pop(key, 0)
        row.update(sorted(counts.items()))
        row.update(_explain(catalog.dataset(dataset), row, details[(dataset, split)]))
        result.append(row)
    return result, notices


def _explain(entry: DatasetEntry, row: dict[str, Any], detail: dict[str, Any]) -> dict[str, Any]:
    """The added keys of a row: reconciliation, examples per task, reject reasons, why no examples."""
    rejects: list[dict[str, Any]] = detail["rejects"]
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for reject in rejects:
        groups.setdefault((reject["action"], reject["field"], reason_pattern(reject["reason"])), []).append(reject)
    ranked = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    reasons = [{"action": action, "field": field, "reason": pattern, "count": len(found),
                "example": {key: found[0][key] for key in ("file", "line", "record_id", "reason")}}
               for (action, field, pattern), found in ranked[:TOP_REASONS]]
    per_task = {task: row.get(f"examples.{task}", 0) for task in entry.tasks}
    why = {task: _why_no_examples(task, row, detail, reasons) for task, n in per_task.items() if n == 0}
    return {
        "records_read": row["documents"] + row["rejected"],
        "discontinuous_entities": detail["discontinuous"],
        "examples_per_task": per_task,
        "rejects_by_action": dict(sorted(Counter(r["action"] for r in rejects).items())),
        "reject_reasons": reasons,
        "no_examples": why,
        "no_examples_reason": "; ".join(f"{task}: {text}" for task, text in why.items()) if not row["examples"]
        else None,
    }


def _why_no_examples(task: str, row: dict[str, Any], detail: dict[str, Any], reasons: list[dict[str, Any]]) -> str:
    """One sentence on why ``task`` made no example from a split, from the split's counts."""
    documents = row["documents"]
    if not documents:
        if row["rejected"]:
            top = next((r for r in reasons if r["action"] == "rejected"), None)
            first = f"; most often: {top['example']['reason']} ({top['count']}x)" if top else ""
            return f"all {row['rejected']} records were rejected{first}"
        return "the files hold no record this reader recognises (check `format`, its options and the paths)"
    handler = get_task(task)
    if handler is None:
        return f"`{task}` has no example builder"
    if not detail["accepted"][task]:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(detail["kinds"].items()))
        return f"`{task}` makes examples from {handler.document_kind} documents; the reader gave {kinds}"
    if task == "ner" and not row["entities"]:
        return f"all {documents} documents have no entities (check entity `labels` and the offsets)"
    if task == "re" and not row["relations"]:
        return f"none of the {documents} documents has a relation"
    if task == "ee" and not row["events"]:
        return f"none of the {documents} documents has an event"
    if task == "nen" and not detail["normalized"]:
        return f"no entity of the {documents} documents has a normalization id"
    if task in ("tc", "tp") and not detail["labeled"]:
        unlabeled = row.get("unlabeled", 0)
        return (f"all {unlabeled or documents} targets are empty (an unlabeled split: no label to learn)"
                if unlabeled else f"no `label` in any of the {documents} records: set the label field or `unlabeled`")
    return f"`{task}` accepted {detail['accepted'][task]} documents but made no example from them"
