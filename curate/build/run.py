"""Running a build: the flow of steps, from a catalog to shards, manifests and reports.

plan (``plan``) -> extract, phase 1 (``extract``): one call per source file, which turns it into examples
and renders the first copy of those a stage can still take (``early``) -> select (``select``): quotas
become seeded rank thresholds -> render, phase 2 (``render``): one call per example file and output ->
write (``write``): merge, deduplicate, order and shard -> report (``report``). The executor
(``executor``) runs the per-file calls on Ray actors or in this process. Intermediate files under
``OUT/.work`` (Arrow IPC, see ``intermediate``) make a rerun resume from finished units.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from curate import __version__, storage
from curate.atomic_files import write_json
from curate.build.clean import cleaned_examples, cleaning_plan, eval_documents
from curate.build.collisions import colliding_ids
from curate.build.executor import InProcessExecutor, RayExecutor, process_peak_rss_mb, ray_session
from curate.build.extract import example_file, ngrams_path
from curate.build.partitions import OutputSources
from curate.build.plan import EVAL_OUTPUT, EarlyRender, ExtractUnit, plan_units
from curate.build.report import write_outputs
from curate.build.select import available_counts, plan_render_units, read_ranks
from curate.build.summaries import ExtractSummary, RenderSummary
from curate.build.write import partitions_for, write_output
from curate.catalog import Catalog, load_catalog
from curate.decontam import EvalIndex
from curate.errors import CurateError
from curate.huge_pages import avoid_huge_pages
from curate.outlock import output_lock
from curate.tasks import tasks_fingerprint
from curate.tasks.base import stable_hash
from curate.templates import load_templates, templates_fingerprint


@dataclass
class BuildResult:
    out_dir: Path
    manifest: dict[str, Any]
    notices: list[str] = field(default_factory=list)
    resumed: dict[str, int] = field(default_factory=dict)  # units reused from an earlier run, per phase
    worker_peak_rss_mb: list[float] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step, for benchmarks
    # for benchmarks: the driver's peak RSS (MB) at the end of each step of ``timings``, and each worker's
    # peak per step (BuildWorker.peak_rss_by_step)
    driver_peak_rss_mb: dict[str, float] = field(default_factory=dict)
    worker_peak_rss_by_step: list[dict[str, float]] = field(default_factory=list)


def run_build(catalog_path: str | Path = "catalog.yaml", out_dir: str | Path = "out", *, workers: int = 2,
              seed: int | None = None, address: str | None = None, progress: bool = True,
              stages: Iterable[str] | None = None, in_process: bool = False) -> BuildResult:
    """Build every stage of a catalog into ``out_dir``; see the module docstring. ``in_process``: run
    every unit in this process, without Ray (tests, the benchmark's bare mode); same bytes. Transparent
    huge pages are turned off for this process and the workers (``curate.huge_pages``; ``CURATE_HUGE_PAGES=1``
    keeps them)."""
    catalog = load_catalog(catalog_path)
    load_templates(catalog.templates_dir)  # lint errors stop the build before any work
    avoid_huge_pages()  # before a local Ray starts: its workers inherit the setting
    seed = catalog.seed if seed is None else seed
    workers = 1 if in_process else max(1, workers)
    storage.check_uri(str(out_dir), "--out", write=True)
    out = storage.location(out_dir)  # a local folder, or an object-storage URI (curate/storage.py)
    with output_lock(out):
        return _build_locked(catalog, out, seed, workers, address, progress, stages, in_process)


def _executor(catalog: Catalog, work: Path, seed: int, workers: int, address: str | None,
              in_process: bool, remote_inputs: bool = False) -> AbstractContextManager[Any]:
    """The executor of this build, as a context that starts and stops Ray where it is used."""
    if in_process:
        return nullcontext(InProcessExecutor(str(catalog.path), str(work), seed))

    from contextlib import contextmanager

    @contextmanager
    def on_ray() -> Any:
        with ray_session(address, workers) as ray:
            # the object store's endpoint and credentials, for workers on any node
            env = storage.storage_env() if storage.is_remote(work) or remote_inputs else {}
            yield RayExecutor(ray, str(catalog.path), str(work), seed, workers, env)
    return on_ray()


def _build_locked(catalog: Catalog, out: Path, seed: int, workers: int, address: str | None, progress: bool,
                  stages: Iterable[str] | None, in_process: bool) -> BuildResult:
    """run_build's work, while this process holds the output folder's lock."""
    work = out / ".work"  # on the object store too when --out is a URI: every node reads it there
    storage.makedirs(work)
    notices: list[str] = []
    wanted = [s for s in catalog.stages if stages is None or s.name in set(stages)]
    units, used = plan_units(catalog, notices, wanted)
    if not units:
        raise CurateError(f"{catalog.path}: no dataset has files to build; add `files:` to a dataset entry")

    from curate.progress import BuildProgress

    clock: dict[str, float] = {}
    driver_peaks: dict[str, float] = {}

    def mark(step: str) -> None:
        """The end of a step: its time, and the driver's peak memory so far (for benchmarks)."""
        clock[step] = time.perf_counter()
        driver_peaks[step] = process_peak_rss_mb()
    mark("start")
    # the reports need the plotting library: import it while the last units run and cores fall idle
    # (earlier, it would take CPU from the workers)
    warmup = threading.Thread(target=_import_plotting, daemon=True)
    finished = [0]

    def extracted(summary: ExtractSummary) -> None:
        finished[0] += 1
        if finished[0] == max(1, len(units) - workers + 1):
            warmup.start()
        bar.advance(f"{summary.dataset}/{summary.split}")
    remote_inputs = any(storage.is_remote(u.file) for u in units)
    with _executor(catalog, work, seed, workers, address, in_process, remote_inputs) as pool, \
            BuildProgress(enabled=progress) as bar:
        # evaluation splits first: their n-grams are what training splits are checked against
        is_eval = [u.split in catalog.dataset(u.dataset).eval_splits for u in units]
        first = [u for u, e in zip(units, is_eval, strict=True) if e]
        second = [u for u, e in zip(units, is_eval, strict=True) if not e]
        mark("actors")
        bar.phase("phase 1: read and extract", len(units))
        summaries: list[ExtractSummary] = pool.map("extract", first, extracted)
        summaries = _extract_again_if_ids_collide(pool, first, summaries, work)
        eval_index = _eval_index(catalog, first, work) if catalog.output.decontaminate else None
        # (cleaning) the evaluation documents' overlap keys travel beside it, fetched the same way
        index_ref = pool.share(eval_index) + pool.share(eval_documents(catalog, first, work))
        pool.broadcast("set_eval_index", index_ref)
        later = pool.map("extract", second, extracted, index_ref)
        summaries += _extract_again_if_ids_collide(pool, second, later, work, index_ref)
        summaries.sort(key=lambda s: (s.dataset, s.split, s.file))
        mark("extract")

        files_of: dict[tuple[str, str], list[str]] = defaultdict(list)
        early_of: dict[str, EarlyRender | None] = {}
        for unit in units:
            path = str(example_file(work, unit))
            files_of[(unit.dataset, unit.split)].append(path)
            early_of[path] = unit.early
        cache_keys = {(x.dataset, x.split, x.unit_key): x.cache_key for x in summaries}
        input_keys = {str(example_file(work, u)): cache_keys[(u.dataset, u.split, u.key)] for u in units}
        # the task code writes the answers, so it is part of the key like the templates
        common_key = stable_hash(seed, templates_fingerprint(catalog.templates_dir), tasks_fingerprint(),
                                 catalog.fingerprint(), __version__)
        cleaning = cleaning_plan(pool, catalog, units, work, seed)
        ranks, cleaned = read_ranks(files_of, used, cleaning.dropped)
        cleaning.write_reports(out, cleaned_examples(summaries, cleaned), write_json, catalog.output.overlap)
        mark("clean")
        plans, mixtures = plan_render_units(wanted, used, available_counts(summaries, catalog, cleaned), ranks,
                                            files_of, early_of, input_keys, common_key, cleaning.dropped)
        mark("select")
        bar.phase("phase 2: select and render", len(plans))
        rendered: list[RenderSummary] = pool.map("render", plans, lambda r: bar.advance(f"{r.output}/{r.dataset}"))
        rendered.sort(key=lambda r: r.path)
        mark("render")
        outputs = sorted({r.output for r in rendered})
        bar.phase("write shards", len(outputs) + 1)  # each output, then the manifests and reports
        written = {}
        for output in outputs:
            results = [r for r in rendered if r.output == output]
            # evaluation sets are kept whole, as published; only training outputs are deduplicated
            spec = OutputSources(output, tuple(sorted((r.path, r.early_entry_hash) for r in results)),
                                 catalog.output.dedup and output != EVAL_OUTPUT,
                                 partitions_for(sum(r.rows for r in results), workers), str(work / "write" / output))
            written[output] = write_output(pool, spec, out / output, catalog.output.rows_per_shard)
            bar.advance(output)
        peaks = pool.broadcast("peak_rss_mb")
        step_peaks = pool.broadcast("peak_rss_by_step")
        mark("write")
        manifest = write_outputs(catalog, out, seed, summaries, rendered, mixtures, notices, written)
        mark("report")
        bar.advance("done")
    resumed = {"phase1": sum(1 for x in summaries if x.cached), "phase2": sum(1 for x in rendered if x.cached)}
    marks = list(clock.items())
    timings = {name: round(t - marks[i - 1][1], 3) for i, (name, t) in enumerate(marks) if i}
    return BuildResult(out, manifest, notices, resumed, sorted(peaks), timings,
                       {k: v for k, v in driver_peaks.items() if k != "start"}, step_peaks)


def _extract_again_if_ids_collide(pool: Any, units: list[ExtractUnit],
                                  summaries: list[ExtractSummary], work: Path, *args: Any) -> list[ExtractSummary]:
    """Extract again, with qualified ids, the files whose document ids an earlier file of their split has;
    ``units`` is updated in place. Nothing happens (and no id changes) where no id collides."""
    clashes = colliding_ids(units, work)
    if not clashes:
        return summaries
    redo = []
    for index, unit in enumerate(units):
        if unit.key in clashes:
            ids, qualifier = clashes[unit.key]
            units[index] = replace(unit, qualify=ids, qualifier=qualifier)
            redo.append(units[index])
    kept = [s for s in summaries if s.unit_key not in clashes]
    return kept + pool.map("extract", redo, lambda _: None, *args)


def _import_plotting() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot


def _eval_index(catalog: Catalog, units: list[ExtractUnit], work: Path) -> EvalIndex:
    """N-grams of every evaluation split's inputs, written by phase 1, merged in a fixed order."""
    parts = []
    for unit in sorted(units, key=lambda u: u.catalog_order):
        path = ngrams_path(work, unit)
        if unit.split in catalog.dataset(unit.dataset).eval_splits and storage.exists(path):
            parts.append((f"{unit.dataset}/{unit.split}", storage.load_npy(path)))
    return EvalIndex.build(parts, catalog.output.ngram)
