"""The two-phase build on Ray: convert every dataset file, mix, render, and write shards.

Phase 1 runs one Ray actor call per source file: it converts the file and, where a stage can still
take an example, renders its first copy (see ``EarlyRender``). The driver then computes quotas from
the counts; phase 2 runs one call per example file and output, which filters the early renders by
the seeded selection and renders only what is left (upsampled copies, other cross-lingual ratios).
The driver merges, deduplicates and writes shards and manifests. Intermediate files under
``OUT/.work`` (Arrow IPC, see ``scratch``) make a rerun resume from finished units.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from curate import __version__, scratch
from curate.catalog import Catalog, DatasetEntry, Stage, load_catalog
from curate.cleaning.overlap import EvalDocuments
from curate.cleaning.plan import NEAR_DUPLICATES, OVERLAP, CleaningPlan, merge_pairs, partition_pairs, plan_cleaning
from curate.convert import ConvertUnit, convert_unit, documents_path, example_file, file_stem, ngrams_path
from curate.decontam import EvalIndex
from curate.errors import CurateError
from curate.mix import MixKey, Quota, mixture
from curate.outlock import output_lock
from curate.render import EarlyRender, EarlyRenderer, RenderUnit, plan_selection, render_unit
from curate.report import write_reports
from curate.shards import clear_stale, merge_and_dedup, write_atomic, write_json, write_memory_pool, write_shards
from curate.tasks import tasks_fingerprint
from curate.tasks.base import stable_hash
from curate.templates import load_templates, templates_fingerprint

log = logging.getLogger("curate")
EVAL_OUTPUT = "eval"


@dataclass
class BuildResult:
    out_dir: Path
    manifest: dict[str, Any]
    notices: list[str] = field(default_factory=list)
    resumed: dict[str, int] = field(default_factory=dict)  # units reused from an earlier run, per phase
    worker_peak_rss_mb: list[float] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step, for benchmarks


class BuildWorker:
    """What one Ray actor does; also usable in-process (tests, benchmarks, the bare loop)."""

    def __init__(self, catalog_path: str, work_dir: str, seed: int, fault_marker: str | None = None,
                 own_process: bool = False, fault_point: str | None = None) -> None:
        self.catalog = load_catalog(catalog_path, check_files=False)
        self.library = load_templates(self.catalog.templates_dir, compile_now=not own_process)
        self.work_dir = Path(work_dir)
        self.seed = seed
        self.eval_index: EvalIndex | None = None
        self.eval_index_id: str | None = None  # the object ref ``eval_index`` was fetched from
        self.eval_documents: EvalDocuments | None = None  # (cleaning) fetched like the index, from its ref
        self.eval_documents_id: str | None = None
        self.fault_marker = fault_marker
        self.fault_point = fault_point or "any"
        self.calls: Counter[str] = Counter()
        self.render_key = stable_hash(templates_fingerprint(self.catalog.templates_dir), tasks_fingerprint(),
                                      self.catalog.output.max_chars, *_quality_key(self.catalog))
        if own_process:
            _tune_gc()

    def _maybe_fail(self, point: str) -> None:
        """Fault injection for tests: the first call at ``CURATE_FAULT_POINT`` (``any``, or a method name with
        an optional ``:n`` for its n-th call in this process) SIGKILLs this process, once per
        CURATE_FAULT_MARKER."""
        self.calls[point] += 1
        name, _, nth = self.fault_point.partition(":")
        if name not in ("any", point) or (nth and self.calls[point] != int(nth)):
            return
        if self.fault_marker and not os.path.exists(self.fault_marker):
            Path(self.fault_marker).write_text(str(os.getpid()), encoding="utf-8")
            os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer or an operator would: no clean-up at all

    def _index(self, index_ref: list[Any] | None) -> EvalIndex | None:
        """The evaluation index, fetched from its object ref on first use. Every call that needs it carries
        the ref, so an actor that Ray restarts (empty) after the index was sent fetches it again."""
        if not index_ref:
            return self.eval_index
        import ray

        ref = index_ref[0]
        if self.eval_index_id != ref.hex():
            self.eval_index = ray.get(ref)
            self.eval_index_id = ref.hex()
        return self.eval_index

    def convert(self, unit: ConvertUnit, index_ref: list[Any] | None = None) -> dict[str, Any]:
        """Convert one source file; ``index_ref``: ``[ObjectRef]`` of the evaluation index (wrapped in a list
        so that Ray passes the ref, not the value: the actor fetches it once and keeps it)."""
        from curate.normalize import normalize_document

        self._maybe_fail("convert" if index_ref is None else "train_convert")
        eval_index = self._index(index_ref)
        entry = self.catalog.dataset(unit.dataset)
        clean = self.catalog.output.decontaminate
        normalize = normalize_document if self.catalog.output.convert_traditional else None
        early = EarlyRenderer(unit.early, self.catalog, self.library, self.seed) if unit.early else None
        return convert_unit(unit, entry, self.work_dir, normalize,
                            ngram=self.catalog.output.ngram if clean and unit.split in entry.eval_splits else None,
                            window_chars=self.catalog.output.window_chars,
                            eval_index=eval_index if clean and unit.split in entry.train_splits else None,
                            seed=self.seed, early=early, early_key=stable_hash(unit.early, self.render_key),
                            **_cleaning_args(self.catalog, entry, unit.split, self._eval_documents(index_ref)))

    def _eval_documents(self, index_ref: list[Any] | None) -> EvalDocuments | None:
        """The evaluation documents for the overlap check (curate/cleaning): the second ref of ``index_ref``,
        fetched once, as ``_index`` fetches the first."""
        if not index_ref or len(index_ref) < 2:
            return None
        import ray

        ref = index_ref[1]
        if self.eval_documents_id != ref.hex():
            self.eval_documents = ray.get(ref)
            self.eval_documents_id = ref.hex()
        return self.eval_documents

    def near_duplicate_pairs(self, signatures: np.ndarray, partition: int, partitions: int,
                             ) -> tuple[np.ndarray, np.ndarray]:
        """Verified near-duplicate pairs of one band partition (curate/cleaning/plan.py)."""
        return partition_pairs(signatures, self.catalog.output.near_duplicates, partition, partitions)

    def set_eval_index(self, index_ref: list[Any]) -> int:
        """Fetch the evaluation index ahead of the training units (each of which carries the ref too)."""
        self._maybe_fail("set_eval_index")
        index = self._index(index_ref)
        return 0 if index is None else len(index)

    def render(self, unit: RenderUnit) -> dict[str, Any]:
        self._maybe_fail("render")
        return render_unit(unit, self.catalog, self.library, self.seed, self.work_dir)

    def ping(self) -> int:
        return os.getpid()

    def peak_rss_mb(self) -> float:
        """Peak resident memory of this worker process (Linux reports KiB)."""
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _quality_key(catalog: Catalog) -> tuple[str, ...]:
    """What rendering depends on of the quality filters: nothing while they are all off (so render
    cache keys of earlier builds stay valid)."""
    quality = catalog.output.quality
    return (quality.model_dump_json(),) if quality.checks_records else ()


def _cleaning_args(catalog: Catalog, entry: DatasetEntry, split: str,
                   eval_documents: EvalDocuments | None = None) -> dict[str, Any]:
    """convert_unit's cleaning arguments: a document table where overlap or near-duplicates are on;
    for a training split, the document quality filters and the evaluation documents to leave out."""
    from curate.cleaning.documents import DocumentTable
    from curate.cleaning.plan import hasher_of

    output = catalog.output
    near = output.near_duplicates
    documents = (DocumentTable(hasher_of(near) if near.enabled else None, frozenset(near.skip_tasks))
                 if output.overlap or near.enabled else None)
    quality = output.quality if output.quality.checks_documents and split in entry.train_splits else None
    if documents is None and quality is None:
        return {}
    key = stable_hash(output.overlap, near.model_dump_json() if near.enabled else "",
                      quality.model_dump_json() if quality is not None else "")
    train = split in entry.train_splits
    return {"documents": documents, "quality": quality, "cleaning_key": key,
            "eval_documents": eval_documents if output.overlap and train and eval_documents else None}


def _tune_gc() -> None:
    """For a worker process: converting makes millions of short-lived, acyclic objects, which reference
    counting frees; the cyclic collector meanwhile rescans everything Ray, Arrow and Jinja keep alive.
    Freezing what exists after set-up and collecting less often took ~10% off the time per example."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def start_local_ray(num_cpus: int | None = None, **kwargs: Any) -> None:
    """Start the embedded single-machine Ray a build uses when no cluster is given: no dashboard, and no
    metrics collection unless ``RAY_enable_metrics_collection`` is set (nothing scrapes the metrics of an
    embedded session, and their agents took about 1.5% of two cores throughout a build).

    Every Ray service listens on loopback only: Ray turns ``127.0.0.1`` given as the node address into the
    machine's routable address, and then its GCS, raylet and worker servers listen on all interfaces.
    With ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` Ray treats the machine as one that takes no part in a
    cluster: the node address is loopback, and every server binds to it (see docs/catalog.md). Token
    authentication is left as Ray's settings have it."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # read by the Ray processes started now
    os.environ.setdefault("RAY_enable_metrics_collection", "0")
    import ray
    from ray._private import ray_constants

    # read once when Ray is imported: set it here too, for a driver that imported Ray before
    ray_constants.ENABLE_RAY_CLUSTER = os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] not in ("0", "false", "False")
    ray.init(address="local", num_cpus=num_cpus or max(os.cpu_count() or 1, 1), include_dashboard=False, **kwargs)


@contextmanager
def ray_session(address: str | None, workers: int):
    """Attach to a cluster (``--address``/``RAY_ADDRESS``, or inside a Ray job), or start a local one."""
    import ray

    if ray.is_initialized():
        yield ray
        return
    address = address or os.environ.get("RAY_ADDRESS")
    kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False,
                              "configure_logging": False}
    if address:
        ray.init(address=address, **kwargs)
    else:
        start_local_ray(**kwargs)
    try:
        yield ray
    finally:
        ray.shutdown()


def _run_pool(ray: Any, actors: list[Any], method: str, units: list[Any], on_done: Callable[[Any], None],
              *args: Any) -> list[Any]:
    from ray.util import ActorPool

    pool = ActorPool(actors)
    results = []
    for result in pool.map_unordered(lambda actor, unit: getattr(actor, method).remote(unit, *args), units):
        results.append(result)
        on_done(result)
    return results


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
    keep_fields = keep_fields or catalog.output.near_duplicates.enabled
    return EarlyRender(tasks, ratio, cap, keep_fields)


def plan_units(catalog: Catalog, notices: list[str],
               stages: list[Stage] | None = None) -> tuple[list[ConvertUnit], list[DatasetEntry]]:
    units: list[ConvertUnit] = []
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
            for index, path in enumerate(catalog.resolve_files(entry, split)):
                display = entry.files[split][min(index, len(entry.files[split]) - 1)]
                display = str(path) if any(c in display for c in "*?[") else display
                units.append(ConvertUnit(entry.name, split, str(path), display, early))
    # biggest files first: better balance across actors
    units.sort(key=lambda u: (-_size(u.file), u.key))
    return units, used


def _size(path: str) -> int:
    try:
        return os.path.getsize(path.split("!")[0])
    except OSError:
        return 0


def run_build(catalog_path: str | Path = "catalog.yaml", out_dir: str | Path = "out", *, workers: int = 2,
              seed: int | None = None, address: str | None = None, progress: bool = True,
              stages: Iterable[str] | None = None) -> BuildResult:
    """Build every stage of a catalog into ``out_dir``; see the module docstring."""
    catalog = load_catalog(catalog_path)
    load_templates(catalog.templates_dir)  # lint errors stop the build before any work
    seed = catalog.seed if seed is None else seed
    workers = max(1, workers)
    out = Path(out_dir).resolve()
    with output_lock(out):
        return _build_locked(catalog, out, seed, workers, address, progress, stages)


def _build_locked(catalog: Catalog, out: Path, seed: int, workers: int, address: str | None, progress: bool,
                  stages: Iterable[str] | None) -> BuildResult:
    """run_build's work, while this process holds the output folder's lock."""
    work = out / ".work"
    work.mkdir(parents=True, exist_ok=True)
    notices: list[str] = []
    wanted = [s for s in catalog.stages if stages is None or s.name in set(stages)]
    units, used = plan_units(catalog, notices, wanted)
    if not units:
        raise CurateError(f"{catalog.path}: no dataset has files to build; add `files:` to a dataset entry")

    from curate.progress import BuildProgress

    clock = {"start": time.perf_counter()}
    # the reports need the plotting library: import it while the last units run and cores fall idle
    # (earlier, it would take CPU from the workers)
    warmup = threading.Thread(target=_import_plotting, daemon=True)
    finished = [0]

    def converted(summary: dict[str, Any]) -> None:
        finished[0] += 1
        if finished[0] == max(1, len(units) - workers + 1):
            warmup.start()
        bar.advance(f"{summary['dataset']}/{summary['split']}")
    with ray_session(address, workers) as ray, BuildProgress(enabled=progress) as bar:
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        actor_cls = ray.remote(BuildWorker).options(num_cpus=min(1.0, cpus / workers), max_restarts=3,
                                                     max_task_retries=3)
        fault_marker = os.environ.get("CURATE_FAULT_MARKER")
        fault_point = os.environ.get("CURATE_FAULT_POINT")
        actors = [actor_cls.remote(str(catalog.path), str(work), seed, fault_marker, own_process=True,
                                   fault_point=fault_point)
                  for _ in range(workers)]

        # evaluation splits first: their n-grams are what training splits are checked against
        is_eval = [u.split in catalog.dataset(u.dataset).eval_splits for u in units]
        first = [u for u, e in zip(units, is_eval, strict=True) if e]
        second = [u for u, e in zip(units, is_eval, strict=True) if not e]
        clock["actors"] = time.perf_counter()
        bar.phase("phase 1: read and convert", len(units))
        summaries = _run_pool(ray, actors, "convert", first, converted)
        summaries = _convert_again_if_ids_collide(ray, actors, first, summaries, work)
        eval_index = _eval_index(catalog, first, work) if catalog.output.decontaminate else None
        index_ref = [ray.put(eval_index)]  # in a list: Ray hands the actors the ref, each fetches it once
        # (cleaning) the evaluation documents' overlap keys travel beside it, fetched the same way
        index_ref.append(ray.put(_eval_documents(catalog, first, work) if catalog.output.overlap else None))
        ray.get([actor.set_eval_index.remote(index_ref) for actor in actors])
        later = _run_pool(ray, actors, "convert", second, converted, index_ref)
        summaries += _convert_again_if_ids_collide(ray, actors, second, later, work, index_ref)
        summaries.sort(key=lambda s: (s["dataset"], s["split"], s["file"]))

        files_of: dict[tuple[str, str], list[str]] = defaultdict(list)
        early_of: dict[str, EarlyRender | None] = {}
        for unit in units:
            path = str(example_file(work, unit))
            files_of[(unit.dataset, unit.split)].append(path)
            early_of[path] = unit.early
        cleaning = _cleaning_plan(ray, actors, catalog, units, work, seed)
        ranks, cleaned = _ranks(files_of, used, cleaning.dropped)
        available = _available_counts(summaries, catalog, cleaned)
        cleaning.write_reports(out, _cleaned_examples(summaries, cleaned), write_json, catalog.output.overlap)
        cache_keys = {(x["dataset"], x["split"], x["unit_key"]): x["cache_key"] for x in summaries}
        input_keys = {str(example_file(work, u)): cache_keys[(u.dataset, u.split, u.key)] for u in units}
        # the task code writes the answers, so it is part of the key like the templates
        common_key = stable_hash(seed, templates_fingerprint(catalog.templates_dir), tasks_fingerprint(),
                                 catalog.fingerprint(), __version__)
        plans: list[RenderUnit] = []
        mixtures: dict[str, dict[MixKey, Quota]] = {}
        for stage in wanted:
            counts = {k: n for k, n in available.items() if stage.uses(k[0], k[1])}
            caps = {e.name: e.cap for e in used if e.cap}
            mixtures[stage.name] = mixture(counts, stage.mixing, caps)
            for entry in used:
                selections = {k[1]: plan_selection(ranks.get((entry.name, k[1]), np.empty(0, np.uint64)), q.quota)
                              for k, q in mixtures[stage.name].items() if k[0] == entry.name}
                for split in entry.train_splits:
                    for path in sorted(files_of.get((entry.name, split), [])):
                        ratio = stage.mixing.cross_lingual_ratio
                        early = early_of[path] is not None and early_of[path].cross_lingual_ratio == ratio
                        plans.append(RenderUnit(stage.name, entry.name, path, selections, ratio, early=early,
                                                dropped=cleaning.dropped.get(path)))
        for entry in used:
            for split in entry.eval_splits:
                for path in sorted(files_of.get((entry.name, split), [])):
                    plans.append(RenderUnit(EVAL_OUTPUT, entry.name, path, None, early=early_of[path] is not None))
        for plan in plans:
            chosen = sorted((t, sel.full, sel.threshold) for t, sel in (plan.selections or {}).items())
            plan.cache_key = stable_hash(plan.key, chosen, plan.cross_lingual_ratio, input_keys[plan.example_file],
                                         common_key, sorted((plan.dropped or {}).items()), length=32)
        plans.sort(key=lambda p: (-_size(p.example_file), p.key))
        clock["phase1"] = time.perf_counter()
        bar.phase("phase 2: select and render", len(plans))
        rendered = _run_pool(ray, actors, "render", plans, lambda r: bar.advance(f"{r['output']}/{r['dataset']}"))
        rendered.sort(key=lambda r: r["path"])
        peaks = ray.get([actor.peak_rss_mb.remote() for actor in actors])
        clock["phase2"] = time.perf_counter()
        bar.phase("write shards", 1)
        with write_memory_pool():
            manifest = _write_outputs(catalog, out, seed, summaries, rendered, mixtures, notices)
        clock["write"] = time.perf_counter()
        bar.advance("done")
    resumed = {"phase1": sum(1 for x in summaries if x.get("cached")),
               "phase2": sum(1 for x in rendered if x.get("cached"))}
    marks = list(clock.items())
    timings = {name: round(t - marks[i - 1][1], 3) for i, (name, t) in enumerate(marks) if i}
    return BuildResult(out, manifest, notices, resumed, sorted(peaks), timings)


def colliding_ids(units: list[ConvertUnit], work: Path) -> dict[str, tuple[frozenset[str], str]]:
    """Per unit key: the document ids that an earlier file (in path order) of the same split has too, and
    the qualifier they get: the file's stem, or ``<stem>.<n>`` (its place in path order) where files of the
    split share a stem.

    Files are converted independently, so two files of one split may both hold a record ``17``; their
    examples would share ids, ranks and record ids (and ``curate eval`` would score one of them). Only
    such ids are qualified (``<qualifier>:<id>``); every other id stays as it is."""
    import pyarrow.compute as pc

    by_split: dict[tuple[str, str], list[ConvertUnit]] = defaultdict(list)
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
            ids = scratch.read_table(str(example_file(work, unit)), columns=["document_id"]).column("document_id")
            # ids of windows (``<id>#w<n>``) are of their document
            own = {doc_id.split("#w", 1)[0] for doc_id in pc.unique(ids).to_pylist()}
            if own & seen:
                found[unit.key] = (frozenset(own & seen), stem if stems.count(stem) == 1 else f"{stem}.{place}")
            seen |= own
    return found


def _convert_again_if_ids_collide(ray: Any, actors: list[Any], units: list[ConvertUnit],
                                  summaries: list[dict[str, Any]], work: Path, *args: Any) -> list[dict[str, Any]]:
    """Convert again, with qualified ids, the files whose document ids an earlier file of their split has;
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
    kept = [s for s in summaries if s["unit_key"] not in clashes]
    return kept + _run_pool(ray, actors, "convert", redo, lambda _: None, *args)


def _import_plotting() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot


def _ranks(files_of: dict[tuple[str, str], list[str]], used: list[DatasetEntry],
           dropped: dict[str, dict[str, str]]) -> tuple[dict[tuple[str, str], np.ndarray], Counter[tuple[str, ...]]]:
    """Selection ranks (written by phase 1) of every training example per (dataset, task), less the
    examples of documents the cleaning plan removes; and those removed per (dataset, split, task, reason)."""
    import pyarrow.compute as pc

    from curate.cleaning.plan import removed_mask

    found: dict[tuple[str, str], list[np.ndarray]] = defaultdict(list)
    removed: Counter[tuple[str, ...]] = Counter()
    for entry in used:
        for split in entry.train_splits:
            for path in sorted(files_of.get((entry.name, split), [])):
                gone = dropped.get(path)
                table = scratch.read_table(path, columns=["task", "rank", "document_id"] if gone else ["task", "rank"])
                if gone:
                    masks = removed_mask(table, gone)
                    for reason, mask in masks.items():
                        for task, n in Counter(table.filter(mask).column("task").to_pylist()).items():
                            removed[(entry.name, split, task, reason)] += n
                    if masks:
                        table = table.filter(pc.invert(functools.reduce(pc.or_, masks.values())))
                for task in pc.unique(table.column("task")).to_pylist():
                    ranks = table.filter(pc.equal(table.column("task"), task)).column("rank")
                    found[(entry.name, task)].append(ranks.to_numpy())
    return {k: np.concatenate(v).astype(np.uint64) for k, v in found.items()}, removed


def _eval_documents(catalog: Catalog, units: list[ConvertUnit], work: Path) -> EvalDocuments:
    """Overlap keys of every evaluation document, from phase 1's document tables, in a fixed order."""
    from curate.cleaning.documents import load_documents

    parts = []
    for unit in sorted(units, key=lambda u: (u.dataset, u.split, u.key)):
        path = documents_path(work, unit)
        if unit.split in catalog.dataset(unit.dataset).eval_splits and path.exists():
            parts.append((f"{unit.dataset}/{unit.split}", load_documents(path)[1]))
    return EvalDocuments.build(parts)


def _cleaned_examples(summaries: list[dict[str, Any]], cleaned: Counter[tuple[str, ...]]) -> Counter[tuple[str, ...]]:
    """Training examples the cleaning removed per (dataset, split, reason): in phase 1 (another dataset's
    evaluation document) and by the plan (near-duplicates, near an evaluation document)."""
    removed: Counter[tuple[str, ...]] = Counter()
    for (dataset, split, _, reason), n in cleaned.items():
        removed[(dataset, split, reason)] += n
    for summary in summaries:
        for key, n in summary["stats"].items():
            if key.startswith(f"{OVERLAP}."):
                removed[(summary["dataset"], summary["split"], OVERLAP)] += n
    return removed


def _cleaning_plan(ray: Any, actors: list[Any], catalog: Catalog, units: list[ConvertUnit], work: Path,
                   seed: int) -> CleaningPlan:
    """The cleaning plan from phase 1's document tables; near-duplicate pairs are found in the workers,
    one band partition per worker."""
    output = catalog.output
    if not (output.overlap or output.near_duplicates.enabled):
        return CleaningPlan()
    # training and evaluation splits only: a split that is neither is in no output (a cluster must not
    # keep a document of it over a training one)
    files = [(str(example_file(work, u)), u.dataset, u.split, u.split in catalog.dataset(u.dataset).eval_splits,
              documents_path(work, u)) for u in sorted(units, key=lambda u: (u.dataset, u.split, u.key))
             if u.split in catalog.dataset(u.dataset).eval_splits or u.split in catalog.dataset(u.dataset).train_splits]

    def pairs_of(signatures: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ref = ray.put(signatures)
        return merge_pairs(ray.get([actor.near_duplicate_pairs.remote(ref, index, len(actors))
                                    for index, actor in enumerate(actors)]))

    return plan_cleaning(files, seed, output.near_duplicates, output.overlap, pairs_of)


def _eval_index(catalog: Catalog, units: list[ConvertUnit], work: Path) -> EvalIndex:
    """N-grams of every evaluation split's inputs, written by phase 1, merged in a fixed order."""
    parts = []
    for unit in sorted(units, key=lambda u: (u.dataset, u.split, u.key)):
        path = ngrams_path(work, unit)
        if unit.split in catalog.dataset(unit.dataset).eval_splits and path.exists():
            parts.append((f"{unit.dataset}/{unit.split}", np.load(path)))
    return EvalIndex.build(parts, catalog.output.ngram)


def _available_counts(summaries: list[dict[str, Any]], catalog: Catalog,
                      cleaned: Counter[tuple[str, ...]] | None = None) -> dict[MixKey, int]:
    counts: Counter[MixKey] = Counter()
    for (dataset, _, task, _), n in (cleaned or Counter()).items():  # removed by the cleaning plan
        counts[(dataset, task, catalog.dataset(dataset).language)] -= n
    for summary in summaries:
        entry = catalog.dataset(summary["dataset"])
        if summary["split"] not in entry.train_splits:
            continue
        for key, n in summary["stats"].items():
            if key.startswith("examples."):
                counts[(entry.name, key.split(".", 1)[1], entry.language)] += n
    return dict(sorted((k, n) for k, n in counts.items() if n > 0))


def _write_outputs(catalog: Catalog, out: Path, seed: int, summaries: list[dict[str, Any]],
                   rendered: list[dict[str, Any]], mixtures: dict[str, dict[MixKey, Quota]],
                   notices: list[str]) -> dict[str, Any]:
    config_hash = catalog.fingerprint()
    # rejects: one JSONL per dataset, in source order
    rejects: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for summary in summaries:
        rejects[summary["dataset"]].extend(summary["rejects"])
    for result in rendered:
        rejects[result["dataset"]].extend(result["rejects"])
    rejects_dir = out / "rejects"
    rejects_dir.mkdir(parents=True, exist_ok=True)
    for old in rejects_dir.glob("*.jsonl"):
        if old.stem not in rejects:
            old.unlink()
    for dataset, rows in sorted(rejects.items()):
        rows.sort(key=lambda r: (r["split"], r["file"], r["line"] or 0, r["record_id"], r["field"], r["reason"]))
        write_atomic(rejects_dir / f"{dataset}.jsonl", "".join(json.dumps(r, ensure_ascii=False, sort_keys=True)
                                                               + "\n" for r in rows))
    sources = _source_counts(summaries)
    outputs: dict[str, Any] = {}
    all_shards: list[dict[str, Any]] = []
    for output in sorted({r["output"] for r in rendered}):
        results = [r for r in rendered if r["output"] == output]
        # evaluation sets are kept whole, as published; only training outputs are deduplicated
        dedup = catalog.output.dedup and output != EVAL_OUTPUT
        merged = merge_and_dedup([(r["path"], r.get("early_entry_hash")) for r in results], dedup)
        out_dir = out / output
        shards = write_shards(merged, out_dir, catalog.output.rows_per_shard)
        clear_stale(out_dir, {s["path"] for s in shards})
        decontaminated = _decontaminated(summaries, catalog) + _decontaminated(summaries, catalog, f"{OVERLAP}.")
        counts = _output_counts(merged.written, results, merged.removed, decontaminated,
                                _decontaminated(summaries, catalog, "filtered."),
                                catalog.output.near_duplicates.enabled)
        stage_manifest = {"stage": output, "seed": seed, "config_hash": config_hash, "curate_version": __version__,
                          "shards": shards, "rows": sum(s["rows"] for s in shards), "counts": counts}
        write_json(out_dir / "manifest.json", stage_manifest)
        outputs[output] = {"manifest": f"{output}/manifest.json", "rows": stage_manifest["rows"]}
        all_shards.extend({**s, "path": f"{output}/{s['path']}", "stage": output} for s in shards)
    report: dict[str, Any] = {}
    for summary in summaries:
        for doc, matches in summary.get("contaminated", {}).items():
            entry_report = report.setdefault(summary["dataset"], {"documents": [], "matched_eval_sets": Counter()})
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


def _source_counts(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Per dataset and split: records read = documents + rejected, and annotation counts."""
    sources: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for s in summaries:
        c = sources[s["dataset"]][s["split"]]
        c["documents"] += s["documents"]
        c["rejected"] += s["rejected"]
        c["read"] += s["documents"] + s["rejected"]
        c["annotations_dropped"] += s["annotations_dropped"]
        c["annotations_repaired"] += s["annotations_repaired"]
        c["annotations_over_budget"] += s["annotations_over_budget"]
        for k, v in s["stats"].items():
            c[k] += v
    return {d: {sp: dict(sorted(c.items())) for sp, c in sorted(splits.items())}
            for d, splits in sorted(sources.items())}


def _decontaminated(summaries: list[dict[str, Any]], catalog: Catalog,
                    prefix: str = "decontaminated.") -> Counter[tuple[str, str]]:
    """Examples removed by decontamination (or, ``prefix`` "filtered.", by a quality filter of their
    document) per (dataset, task), from the training splits."""
    counts: Counter[tuple[str, str]] = Counter()
    for summary in summaries:
        if summary["split"] in catalog.dataset(summary["dataset"]).train_splits:
            for key, n in summary["stats"].items():
                if key.startswith(prefix):
                    counts[(summary["dataset"], key.split(".", 1)[1])] += n
    return counts


def _output_counts(written: Counter[tuple[str, str, str]], results: list[dict[str, Any]], removed: Counter[str],
                   decontaminated: Counter[tuple[str, str]], filtered: Counter[tuple[str, str]] | None = None,
                   near_duplicates: bool = False) -> dict[str, Any]:
    """Counts per dataset × task × language that reconcile:
    examples + upsampled = written + deduplicated + decontaminated + near_duplicates + sampled_out + rejected.
    Cleaning (curate/cleaning): training examples of another dataset's evaluation documents count as
    decontaminated, those of a document a quality filter rejects as rejected; ``near_duplicates`` (a
    column only when that detection is on) counts those of near-duplicate documents not kept."""
    filtered = filtered or Counter()
    merged: dict[str, dict[str, Any]] = {}
    for result in results:  # one result per example file: add them up per dataset
        acc = merged.setdefault(result["dataset"], {**result, "counts": Counter()})
        acc["counts"].update(result["counts"])
    removed_by_key: Counter[tuple[str, str, str]] = Counter()
    rows = []
    dedup_left = Counter(removed)
    for result in (merged[d] for d in sorted(merged)):
        c = result["counts"]
        train = result["output"] != EVAL_OUTPUT
        tasks = sorted({k.split(".", 1)[1] for k in c} | ({t for d, t in decontaminated + filtered
                                                           if d == result["dataset"]} if train else set()))
        for task in tasks:
            key_lang = result["language"]
            key = (result["dataset"], task, key_lang)
            available = c.get(f"available.{task}", 0)
            selected = c.get(f"selected.{task}", 0)
            rejected = c.get(f"unrenderable.{task}", 0)
            n_written = written.get(key, 0)
            dedup = selected - rejected - n_written
            removed_by_key[key] += dedup
            dedup_left[result["dataset"]] -= dedup
            decont = decontaminated.get((result["dataset"], task), 0) if train else 0
            overlap = c.get(f"{OVERLAP}.{task}", 0)
            near = c.get(f"{NEAR_DUPLICATES}.{task}", 0)
            dropped = filtered.get((result["dataset"], task), 0) if train else 0
            row = {"dataset": key[0], "task": task, "language": key_lang,
                   "examples": available + decont + overlap + near + dropped,
                   "upsampled": max(0, selected - available), "written": n_written,
                   "deduplicated": dedup, "decontaminated": decont + overlap,
                   "sampled_out": max(0, available - selected), "rejected": rejected + dropped}
            if near_duplicates:
                row["near_duplicates"] = near
            rows.append(row)
    assert all(v == 0 for v in dedup_left.values()), "dedup counts do not reconcile"
    by_task_lang: Counter[str] = Counter()
    for (_, t, lang), n in written.items():
        by_task_lang[f"{t}.{lang}"] += n
    return {"by_dataset": rows, "by_task_language": dict(sorted(by_task_lang.items()))}
