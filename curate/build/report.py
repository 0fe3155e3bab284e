"""Report: the counts that reconcile, the manifests, and the human-readable reports of a build.

Runs last, on the driver, from the unit summaries and the write step's counts.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

from curate import __version__, storage
from curate.atomic_files import write_atomic, write_json
from curate.build.plan import EVAL_OUTPUT
from curate.build.select import MixKey, Quota
from curate.build.summaries import ExtractSummary, RenderSummary, task_count
from curate.build.write import WrittenOutput, clear_stale
from curate.catalog import Catalog
from curate.cleaning.plan import NEAR_DUPLICATES, OVERLAP
from curate.report import write_reports


def write_outputs(catalog: Catalog, out: Path, seed: int, summaries: list[ExtractSummary],
                  rendered: list[RenderSummary], mixtures: dict[str, dict[MixKey, Quota]],
                  notices: list[str], written: dict[str, WrittenOutput]) -> dict[str, Any]:
    """Write every output's manifest (the write step wrote its shards: ``written``), the rejects, the
    contamination and mixture reports, the top manifest and the human-readable reports; return the top manifest."""
    config_hash = catalog.fingerprint()
    # rejects: one JSONL per dataset, in source order
    rejects: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for summary in summaries:
        rejects[summary.dataset].extend(summary.rejects)
    for result in rendered:
        rejects[result.dataset].extend(result.rejects)
    rejects_dir = out / "rejects"
    storage.makedirs(rejects_dir)
    for old in storage.list_files(rejects_dir, ".jsonl"):
        if old.removesuffix(".jsonl") not in rejects:
            storage.remove(rejects_dir / old)
    for dataset, rows in sorted(rejects.items()):
        rows.sort(key=lambda r: (r["split"], r["file"], r["line"] or 0, r["record_id"], r["field"], r["reason"]))
        write_atomic(rejects_dir / f"{dataset}.jsonl", "".join(json.dumps(r, ensure_ascii=False, sort_keys=True)
                                                               + "\n" for r in rows))
    sources = _source_counts(summaries)
    outputs: dict[str, Any] = {}
    all_shards: list[dict[str, Any]] = []
    for output in sorted({r.output for r in rendered}):
        results = [r for r in rendered if r.output == output]
        shards = written[output].shards
        out_dir = out / output
        clear_stale(out_dir, {s["path"] for s in shards})
        decontaminated = _removed(summaries, catalog, "decontaminated") + _removed(summaries, catalog, OVERLAP)
        counts = _output_counts(written[output].written, results, written[output].removed, decontaminated,
                                _removed(summaries, catalog, "filtered"), catalog.output.near_duplicates.enabled,
                                set(mixtures[output]) if output in mixtures else None)
        stage_manifest = {"stage": output, "seed": seed, "config_hash": config_hash, "curate_version": __version__,
                          "shards": shards, "rows": sum(s["rows"] for s in shards), "counts": counts}
        write_json(out_dir / "manifest.json", stage_manifest)
        outputs[output] = {"manifest": f"{output}/manifest.json", "rows": stage_manifest["rows"]}
        all_shards.extend({**s, "path": f"{output}/{s['path']}", "stage": output} for s in shards)
    report: dict[str, Any] = {}
    for summary in summaries:
        for doc, matches in summary.contaminated.items():
            entry_report = report.setdefault(summary.dataset, {"documents": [], "matched_eval_sets": Counter()})
            entry_report["documents"].append(doc)
            entry_report["matched_eval_sets"].update(matches)
    for entry_report in report.values():
        entry_report["documents"].sort()
        entry_report["matched_eval_sets"] = dict(sorted(entry_report["matched_eval_sets"].items()))
    write_json(out / "contamination.json", {"ngram": catalog.output.ngram, "by_training_dataset": report})
    mixture_doc = {stage: [{"dataset": k[0], "task": k[1], "language": k[2], "available": q.available,
                            "capped": q.capped, "quota": q.quota} for k, q in sorted(mix.items())]
                   for stage, mix in sorted(mixtures.items())}
    write_json(out / "mixture.json", mixture_doc)
    manifest = {
        "curate_version": __version__, "seed": seed, "config_hash": config_hash,
        "catalog": str(catalog.path.name), "outputs": outputs, "shards": all_shards,
        "sources": sources, "rejected": {d: sum(1 for r in rows if r["action"] == "rejected")
                                         for d, rows in sorted(rejects.items())},
        "notices": sorted(notices),
    }
    write_json(out / "manifest.json", manifest)
    write_reports(catalog, out, manifest, mixture_doc)
    return manifest


def _source_counts(summaries: list[ExtractSummary]) -> dict[str, Any]:
    """Per dataset and split: records read = documents + rejected, and annotation counts."""
    sources: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for s in summaries:
        c = sources[s.dataset][s.split]
        c["documents"] += s.documents
        c["rejected"] += s.rejected
        c["read"] += s.documents + s.rejected
        c["annotations_dropped"] += s.annotations_dropped
        c["annotations_repaired"] += s.annotations_repaired
        c["annotations_over_budget"] += s.annotations_over_budget
        c.update(s.stats)
    return {d: {sp: dict(sorted(c.items())) for sp, c in sorted(splits.items())}
            for d, splits in sorted(sources.items())}


def _removed(summaries: list[ExtractSummary], catalog: Catalog, kind: str) -> Counter[tuple[str, str]]:
    """Examples phase 1 removed per (dataset, task), from the training splits: by decontamination
    (``kind`` "decontaminated"), as another dataset's evaluation document ("overlap"), or by a quality
    filter of their document ("filtered")."""
    counts: Counter[tuple[str, str]] = Counter()
    for summary in summaries:
        if summary.split in catalog.dataset(summary.dataset).train_splits:
            for task, n in summary.per_task(kind).items():
                counts[(summary.dataset, task)] += n
    return counts


def _output_counts(written: Counter[tuple[str, str, str]], results: list[RenderSummary], removed: Counter[str],
                   decontaminated: Counter[tuple[str, str]], filtered: Counter[tuple[str, str]] | None = None,
                   near_duplicates: bool = False, quoted: set[MixKey] | None = None) -> dict[str, Any]:
    """Counts per dataset × task × language that reconcile:
    examples + upsampled = written + deduplicated + decontaminated + near_duplicates + excluded + sampled_out
    + rejected.
    Cleaning (curate/cleaning): training examples of another dataset's evaluation documents count as
    decontaminated, those of a document a quality filter rejects as rejected; ``near_duplicates`` (a
    column only when that detection is on) counts those of near-duplicate documents not kept. ``quoted``:
    the keys of a stage's mixture; a stage takes nothing of the others by design, so their examples count as
    ``excluded``, not ``sampled_out`` (which is what a quota below the available examples leaves out)."""
    filtered = filtered or Counter()
    merged: dict[str, RenderSummary] = {}
    for result in results:  # one result per example file: add them up per dataset
        acc = merged.setdefault(result.dataset, replace(result, counts={}))
        total = Counter(acc.counts)
        total.update(result.counts)  # (not ``+``: it would drop the counts that are 0)
        acc.counts = dict(total)
    removed_by_key: Counter[tuple[str, str, str]] = Counter()
    rows = []
    dedup_left = Counter(removed)
    for result in (merged[d] for d in sorted(merged)):
        available_of, selected_of = result.per_task("available"), result.per_task("selected")
        unrenderable_of = result.per_task("unrenderable")
        train = result.output != EVAL_OUTPUT
        tasks = sorted({k.split(".", 1)[1] for k in result.counts}
                       | ({t for d, t in decontaminated + filtered if d == result.dataset} if train else set()))
        for task in tasks:
            key_lang = result.language
            key = (result.dataset, task, key_lang)
            available = available_of.get(task, 0)
            selected = selected_of.get(task, 0)
            rejected = unrenderable_of.get(task, 0)
            n_written = written.get(key, 0)
            dedup = selected - rejected - n_written
            removed_by_key[key] += dedup
            dedup_left[result.dataset] -= dedup
            decont = decontaminated.get((result.dataset, task), 0) if train else 0
            overlap = result.counts.get(task_count(OVERLAP, task), 0)
            near = result.counts.get(task_count(NEAR_DUPLICATES, task), 0)
            dropped = filtered.get((result.dataset, task), 0) if train else 0
            left_out = max(0, available - selected)
            excluded = left_out if quoted is not None and key not in quoted else 0
            row = {"dataset": key[0], "task": task, "language": key_lang,
                   "examples": available + decont + overlap + near + dropped,
                   "upsampled": max(0, selected - available), "written": n_written,
                   "deduplicated": dedup, "decontaminated": decont + overlap,
                   "excluded": excluded, "sampled_out": left_out - excluded, "rejected": rejected + dropped}
            if near_duplicates:
                row["near_duplicates"] = near
            rows.append(row)
    assert all(v == 0 for v in dedup_left.values()), "dedup counts do not reconcile"
    by_task_lang: Counter[str] = Counter()
    for (_, t, lang), n in written.items():
        by_task_lang[f"{t}.{lang}"] += n
    return {"by_dataset": rows, "by_task_language": dict(sorted(by_task_lang.items()))}

