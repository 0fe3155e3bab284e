"""Running the steps: a pool of Ray actors, or one worker in this process (tests, the bare benchmark).

The executor owns what is about where work runs: actor restarts and task retries, the worker state an
actor keeps (the evaluation index) and gets back after a restart, fault injection for the kill tests, and
peak memory. The steps themselves (extract, render) know nothing of it.
"""

from __future__ import annotations

import logging
import os
import signal
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from curate.build.clean import cleaning_args, quality_key
from curate.build.early import EarlyRenderer
from curate.build.extract import extract_unit
from curate.build.plan import ExtractUnit
from curate.build.render import render_unit
from curate.build.select import RenderUnit
from curate.build.summaries import ExtractSummary, RenderSummary
from curate.build.write import WriteTask, write_memory_pool
from curate.catalog import load_catalog
from curate.cleaning.overlap import EvalDocuments
from curate.cleaning.plan import NearPairs, table_pairs
from curate.decontam import EvalIndex
from curate.huge_pages import avoid_huge_pages
from curate.tasks import tasks_fingerprint
from curate.tasks.base import stable_hash
from curate.templates import load_templates, templates_fingerprint


class BuildWorker:
    """What one Ray actor does; also usable in-process (tests, benchmarks, the bare loop)."""

    def __init__(self, catalog_path: str, work_dir: str, seed: int, fault_marker: str | None = None,
                 own_process: bool = False, fault_point: str | None = None) -> None:
        if own_process:  # (a worker on a cluster node: the driver's environment did not reach it)
            avoid_huge_pages()
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
        self.step_peaks: dict[str, float] = {}  # step -> peak RSS (MB) a call of it reached, where it rose
        self.render_key = stable_hash(templates_fingerprint(self.catalog.templates_dir), tasks_fingerprint(),
                                      self.catalog.output.max_chars, *quality_key(self.catalog))
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
        ref = index_ref[0]
        if ref is None or isinstance(ref, EvalIndex):  # in-process: the index itself
            self.eval_index = ref
            return ref
        import ray

        if self.eval_index_id != ref.hex():
            self.eval_index = ray.get(ref)
            self.eval_index_id = ref.hex()
        return self.eval_index

    def extract(self, unit: ExtractUnit, index_ref: list[Any] | None = None) -> ExtractSummary:
        """Convert one source file; ``index_ref``: ``[ObjectRef]`` of the evaluation index (wrapped in a list
        so that Ray passes the ref, not the value: the actor fetches it once and keeps it)."""
        from curate.normalize import normalize_document

        self._maybe_fail("extract" if index_ref is None else "train_extract")
        eval_index = self._index(index_ref)
        entry = self.catalog.dataset(unit.dataset)
        clean = self.catalog.output.decontaminate
        normalize = normalize_document if self.catalog.output.convert_traditional else None
        early = EarlyRenderer(unit.early, self.catalog, self.library, self.seed) if unit.early else None
        with self._peak_of("extract"):
            return extract_unit(unit, entry, self.work_dir, normalize,
                            ngram=self.catalog.output.ngram if clean and unit.split in entry.eval_splits else None,
                            window_chars=self.catalog.output.window_chars,
                            eval_index=eval_index if clean and unit.split in entry.train_splits else None,
                                seed=self.seed, early=early, early_key=stable_hash(unit.early, self.render_key),
                                **cleaning_args(self.catalog, entry, unit.split, self._eval_documents(index_ref)))

    def _eval_documents(self, index_ref: list[Any] | None) -> EvalDocuments | None:
        """The evaluation documents for the overlap check (curate/cleaning): the second entry of ``index_ref``,
        fetched once, as ``_index`` fetches the first."""
        if not index_ref or len(index_ref) < 2:
            return None
        ref = index_ref[1]
        if ref is None or isinstance(ref, EvalDocuments):  # in-process: the documents themselves
            return ref
        import ray

        if self.eval_documents_id != ref.hex():
            self.eval_documents = ray.get(ref)
            self.eval_documents_id = ref.hex()
        return self.eval_documents

    def near_duplicate_pairs(self, tables: list[Path], partition: int, partitions: int) -> NearPairs:
        """Verified near-duplicate pairs of one band partition, read from phase 1's document tables
        (curate/cleaning/plan.py)."""
        return table_pairs(tables, self.catalog.output.near_duplicates, partition, partitions)

    def set_eval_index(self, index_ref: list[Any]) -> int:
        """Fetch the evaluation index ahead of the training units (each of which carries the ref too)."""
        self._maybe_fail("set_eval_index")
        index = self._index(index_ref)
        return 0 if index is None else len(index)

    def render(self, unit: RenderUnit) -> RenderSummary:
        self._maybe_fail("render")
        with self._peak_of("render"):
            return render_unit(unit, self.catalog, self.library, self.seed, self.work_dir)

    def write_step(self, task: WriteTask) -> Any:
        """One task of the write step (build/write.py): order, dedup or finish a partition, or write a shard."""
        self._maybe_fail("write")
        # one Arrow pool for every write task: what a partition frees, the shards after it reuse
        with self._peak_of(type(task).__name__), write_memory_pool():
            return task.run()

    def ping(self) -> int:
        return os.getpid()

    def peak_rss_mb(self) -> float:
        """Peak resident memory of this worker process (Linux reports KiB)."""
        return process_peak_rss_mb()

    def peak_rss_by_step(self) -> dict[str, float]:
        """For each step (extract, render, OrderPartition, ...), the peak RSS of this process at the end of
        a call during which the peak rose: the step holding the highest value is the one that set it."""
        return dict(self.step_peaks)

    @contextmanager
    def _peak_of(self, step: str) -> Iterator[None]:
        before = process_peak_rss_mb()
        try:
            yield
        finally:
            after = process_peak_rss_mb()
            if after > before:
                self.step_peaks[step] = max(self.step_peaks.get(step, 0.0), after)


def process_peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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


class RayExecutor:
    """A pool of ``workers`` Ray actors, each a BuildWorker. An actor that dies (killed, out of memory) is
    restarted by Ray and its call retried, up to three times; a restarted actor gets its state (the
    evaluation index) back from the object ref that every call that needs it carries."""

    def __init__(self, ray: Any, catalog_path: str, work_dir: str, seed: int, workers: int,
                 env: dict[str, str] | None = None) -> None:
        self.ray = ray
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        options: dict[str, Any] = {"num_cpus": min(1.0, cpus / workers), "max_restarts": 3, "max_task_retries": 3}
        if env:  # e.g. the object store's endpoint and credentials (curate.storage.storage_env)
            options["runtime_env"] = {"env_vars": env}
        actor_cls = ray.remote(BuildWorker).options(**options)
        fault_marker = os.environ.get("CURATE_FAULT_MARKER")
        fault_point = os.environ.get("CURATE_FAULT_POINT")
        self.actors = [actor_cls.remote(catalog_path, work_dir, seed, fault_marker, own_process=True,
                                        fault_point=fault_point) for _ in range(workers)]

    def map(self, method: str, units: list[Any], on_done: Callable[[Any], None], *args: Any) -> list[Any]:
        """``method`` of some worker on every unit, in the order they finish; ``on_done`` after each."""
        from ray.util import ActorPool

        pool = ActorPool(self.actors)
        results = []
        for result in pool.map_unordered(lambda actor, unit: getattr(actor, method).remote(unit, *args), units):
            results.append(result)
            on_done(result)
        return results

    def share(self, value: Any) -> list[Any]:
        """A value every worker may need, as ``[ObjectRef]``: in a list, Ray hands the actors the ref, and
        each fetches the value once."""
        return [self.ray.put(value)]

    def broadcast(self, method: str, *args: Any) -> list[Any]:
        """``method`` on every worker, e.g. to fetch shared state ahead of the units that need it."""
        return self.ray.get([getattr(actor, method).remote(*args) for actor in self.actors])

    def partitioned(self, method: str, value: Any) -> list[Any]:
        """``method(value, i, n)`` on worker i of n: one partition of a job over one shared value each."""
        ref = self.ray.put(value)
        return self.ray.get([getattr(actor, method).remote(ref, index, len(self.actors))
                             for index, actor in enumerate(self.actors)])


class InProcessExecutor:
    """One BuildWorker in this process, for tests and the benchmark's bare mode: same steps, no Ray."""

    def __init__(self, catalog_path: str, work_dir: str, seed: int) -> None:
        self.worker = BuildWorker(catalog_path, work_dir, seed)

    def map(self, method: str, units: list[Any], on_done: Callable[[Any], None], *args: Any) -> list[Any]:
        results = []
        for unit in units:
            results.append(getattr(self.worker, method)(unit, *args))
            on_done(results[-1])
        return results

    def share(self, value: Any) -> list[Any]:
        return [value]

    def broadcast(self, method: str, *args: Any) -> list[Any]:
        return [getattr(self.worker, method)(*args)]

    def partitioned(self, method: str, value: Any) -> list[Any]:
        return [getattr(self.worker, method)(value, 0, 1)]
