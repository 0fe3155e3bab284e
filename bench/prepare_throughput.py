"""Training-data preparation throughput, side by side in one run: curate's Ray Data path (1 and 2 workers)
against HF ``datasets.map(batched=True, num_proc=2)`` doing the same tokenization and masking.

    python bench/prepare_throughput.py --records 1000000 --repeat 3 --json bench/prepare-results.json
    python bench/prepare_throughput.py --build BUILD --stage stage2   # a real build instead of a synthetic one

It writes a synthetic build stage of N chat records (single-turn tasks in English and Chinese, and multi-turn
dialogues), trains a byte-level BPE tokenizer with a ChatML template on a sample, then runs each method in a
fresh process, alternating methods ``--repeat`` times, and reports medians: records/s, tokens/s, packing
efficiency at ``--max-seq-len``, the driver's and the workers' peak memory.

Both sides run ``curate.training.data.tokenize_chats`` (assistant-only labels, right truncation, records
without answer tokens dropped). curate then packs best-fit per pack window on its workers
(``curate.training.prepare``); ``datasets`` packs with the same best-fit rule per map batch of
``--map-batch`` records inside the map, as LLaMA-Factory packs per preprocessing batch.
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import json
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

EN_DISEASES = ["asthma", "diabetes", "hepatitis", "anemia", "migraine", "sepsis", "gout", "psoriasis", "lupus"]
EN_DRUGS = ["aspirin", "metformin", "insulin", "ibuprofen", "heparin", "warfarin", "statin", "cisplatin"]
ZH_DISEASES = ["哮喘", "糖尿病", "肝炎", "贫血", "偏头痛", "痛风", "高血压", "肺炎"]
ZH_DRUGS = ["阿司匹林", "二甲双胍", "胰岛素", "布洛芬", "肝素", "青霉素"]
SHARD_ROWS = 5_000  # as `curate build` writes them: output.rows_per_shard's default, zstd


def synthetic_messages(rng: random.Random) -> list[dict[str, str]]:
    """One chat record: NER/QA-like single turns (en, zh) or a 2-4 turn dialogue, 30-700 tokens."""
    d, g = rng.choice(EN_DISEASES), rng.choice(EN_DRUGS)
    zd, zg = rng.choice(ZH_DISEASES), rng.choice(ZH_DRUGS)
    kind = rng.random()
    if kind < 0.4:
        filler = " ".join(rng.choice(EN_DISEASES + EN_DRUGS + ["patients", "received", "daily"])
                          for _ in range(rng.randint(5, 250)))  # fmt: skip
        return [
            {"role": "user", "content": f"Find the disease and drug entities.\n{filler}\nLabels: disease, drug"},
            {"role": "assistant", "content": f"disease: {d}\ndrug: {g}"},
        ]
    if kind < 0.7:
        words = [*ZH_DISEASES, *ZH_DRUGS, "患者", "服用", "治疗"]
        text = "".join(rng.choice(words) for _ in range(rng.randint(5, 120)))
        return [
            {"role": "system", "content": "你是一名医学助手。"},
            {"role": "user", "content": f"对下面的句子分类：{text}。类型选项：治疗，诊断"},
            {"role": "assistant", "content": rng.choice(["治疗", "诊断"])},
        ]
    messages = []
    for turn in range(rng.randint(2, 4)):
        messages.append({"role": "user", "content": f"医生您好，我有{zd}，第{turn + 1}个问题：能吃{zg}吗？"})
        answer = f"您好，{zd}患者可以在医生指导下服用{zg}，注意复查。" * rng.randint(1, 6)
        messages.append({"role": "assistant", "content": answer})
    return messages


def write_synthetic_stage(build: Path, records: int, seed: int = 0) -> Path:
    """``build/bench/`` with ``records`` train records in parquet shards and a manifest (build contract)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = build / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    msg_type = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    schema = pa.schema([("id", pa.string()), ("split", pa.string()), ("messages", msg_type)])
    shards = []
    count = -(-records // SHARD_ROWS)
    for k in range(count):
        n = min(SHARD_ROWS, records - k * SHARD_ROWS)
        ids = [hashlib.sha256(f"{k}|{i}".encode()).hexdigest()[:16] for i in range(n)]
        rows = [{"id": rid, "split": "train", "messages": synthetic_messages(rng)} for rid in sorted(ids)]
        name = f"train-{k:05d}-of-{count:05d}.parquet"
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / name, compression="zstd")
        shards.append({"path": name, "split": "train", "rows": n})
    (folder / "manifest.json").write_text(json.dumps({"stage": "bench", "shards": shards}, indent=2))
    return build


def write_tokenizer(build: Path, stage: str, out: Path, vocab: int) -> Path:
    """A byte-level BPE with a ChatML template, trained on the first shard's first 5,000 records."""
    import pyarrow.parquet as pq

    from curate.training.data import shard_paths
    from curate.training.model import train_tokenizer

    first = shard_paths(build, stage)[0]
    texts = [m["content"] for msgs in pq.read_table(first, columns=["messages"]).column("messages").to_pylist()[:5000]
             for m in msgs]  # fmt: skip
    train_tokenizer(texts, vocab).save_pretrained(str(out))
    return out


def peak_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_children() -> float:
    """CPU time of finished child processes (the ``num_proc`` pool of ``datasets.map``)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ------------------------------------------------------------------ the methods (each in a fresh process)


def run_curate(args: argparse.Namespace) -> dict[str, Any]:
    import ray

    from curate.build.executor import start_local_ray
    from curate.training.prepare import peak_rss_bytes, prepare_stage_dataset

    t0 = time.perf_counter()
    # the embedded Ray of `curate train` (loopback only, no dashboard, no metrics agents)
    start_local_ray(num_cpus=args.cpus, log_to_driver=False, configure_logging=False)
    init_s = time.perf_counter() - t0
    t0, cpu0 = time.perf_counter(), cpu_self()
    prepared = prepare_stage_dataset(
        args.tokenizer, args.build, args.stage, args.max_seq_len, True, args.window, args.workers, args.cpus_per_worker
    )
    seconds = time.perf_counter() - t0
    result = {
        "seconds": seconds,
        "ray_init_seconds": init_s,
        "records": prepared.stats.records,
        "tokens": prepared.stats.tokens,
        "rows": prepared.num_rows,
        "packing_efficiency": prepared.efficiency(1, True, args.max_seq_len),
        "windows": prepared.windows,
        "driver_peak_mib": peak_rss_bytes() / 2**20,
        "worker_peak_mib": prepared.worker_peak_rss_bytes / 2**20,
        "worker_anon_mib": prepared.worker_anon_rss_bytes / 2**20,  # without the object store's pages
        "cpu_seconds": cpu_self() - cpu0 + prepared.worker_cpu_seconds,
    }
    ray.shutdown()
    return result


def _datasets_batch(batch: dict[str, list[Any]], tokenizer_dir: str, max_seq_len: int) -> dict[str, list[Any]]:
    """One ``datasets.map`` batch: tokenize and mask, truncate, drop, then best-fit pack the batch."""
    from curate.training.data import pack_examples, tokenize_records
    from curate.training.model import load_tokenizer

    global _TOKENIZER
    if "_TOKENIZER" not in globals():
        _TOKENIZER = load_tokenizer(tokenizer_dir)
    records = [{"id": i, "messages": m} for i, m in zip(batch["id"], batch["messages"], strict=True)]
    examples, stats = tokenize_records(_TOKENIZER, records, max_seq_len)
    rows = pack_examples(examples, max_seq_len)
    return {
        "input_ids": [r.input_ids for r in rows],
        "labels": [r.labels for r in rows],
        "position_ids": [r.position_ids for r in rows],
        "dropped": [stats.dropped_no_assistant_tokens] + [0] * (len(rows) - 1) if rows else [],
    }


def run_datasets(args: argparse.Namespace) -> dict[str, Any]:
    import datasets
    import pyarrow.compute as pc

    from curate.training.data import shard_paths
    from curate.training.prepare import peak_rss_bytes

    datasets.disable_progress_bars()
    cache = Path(tempfile.mkdtemp(prefix="prep-ds-"))
    t0, cpu0 = time.perf_counter(), cpu_self()
    paths = [str(p) for p in shard_paths(args.build, args.stage)]
    ds = datasets.Dataset.from_parquet(paths, columns=["id", "messages"], cache_dir=str(cache))
    out = ds.map(
        _datasets_batch,
        batched=True,
        batch_size=args.map_batch,
        num_proc=args.workers,
        remove_columns=ds.column_names,
        fn_kwargs={"tokenizer_dir": str(args.tokenizer), "max_seq_len": args.max_seq_len},
        cache_file_name=str(cache / "packed.arrow"),
    )
    records = len(ds)
    tokens = int(pc.sum(pc.list_value_length(out.data.column("input_ids"))).as_py())
    seconds = time.perf_counter() - t0
    dropped = int(pc.sum(out.data.column("dropped")).as_py())
    rows = len(out)
    del out, ds
    shutil.rmtree(cache, ignore_errors=True)  # ~1 GB of Arrow cache per million records
    return {
        "seconds": seconds,
        "records": records,
        "tokens": tokens,
        "rows": rows,
        "packing_efficiency": tokens / (rows * args.max_seq_len),
        "dropped": dropped,
        "driver_peak_mib": peak_rss_bytes() / 2**20,
        "worker_peak_mib": peak_mib(resource.RUSAGE_CHILDREN),  # forked pool: an upper bound
        "cpu_seconds": cpu_self() - cpu0 + cpu_children(),
    }


# ------------------------------------------------------------------ orchestration


def method_args(args: argparse.Namespace, method: str, workers: int) -> list[str]:
    return [
        sys.executable, __file__, "--one", method, "--workers", str(workers), "--build", str(args.build),
        "--stage", args.stage, "--tokenizer", str(args.tokenizer), "--max-seq-len", str(args.max_seq_len),
        "--window", str(args.window), "--map-batch", str(args.map_batch), "--cpus", str(args.cpus),
        "--cpus-per-worker", str(args.cpus_per_worker),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", default="1000000", help="synthetic records; a comma list runs several sizes")
    p.add_argument("--build", type=Path, default=None, help="an existing build instead of a synthetic one")
    p.add_argument("--stage", default="bench", help="stage folder of --build to prepare")
    p.add_argument("--tokenizer", type=Path, default=None, help="HF tokenizer dir (default: trained here)")
    p.add_argument("--vocab", type=int, default=8000, help="vocab of the tokenizer trained here")
    p.add_argument("--max-seq-len", type=int, default=2048)
    p.add_argument("--window", type=int, default=16_384, help="curate's pack_window_records")
    p.add_argument("--map-batch", type=int, default=1000, help="datasets.map batch size (LLaMA-Factory's)")
    p.add_argument("--repeat", type=int, default=3, help="alternating runs per method; medians are reported")
    p.add_argument("--cpus", type=float, default=2, help="CPUs of the embedded Ray")
    p.add_argument("--cpus-per-worker", type=float, default=1.0)
    p.add_argument("--workers", type=int, default=2, help=argparse.SUPPRESS)
    p.add_argument("--one", choices=["curate", "datasets"], default=None, help=argparse.SUPPRESS)
    p.add_argument("--methods", default="curate-1w,curate-2w,datasets",
                   help="comma list of curate-1w, curate-2w, datasets (datasets.map is the baseline, always run)")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args(argv)

    if args.one:  # a child process: run one method, print one JSON line
        result = run_curate(args) if args.one == "curate" else run_datasets(args)
        print(json.dumps(result))
        return 0

    scratch = Path(tempfile.mkdtemp(prefix="prep-bench-"))
    atexit.register(shutil.rmtree, scratch, True)  # synthetic builds and tokenizers: gone when the run ends
    sizes = [None] if args.build else [int(x) for x in args.records.split(",")]
    report: dict[str, Any] = {"max_seq_len": args.max_seq_len, "repeat": args.repeat, "sizes": {}}
    known = {"curate-1w": ("curate", 1), "curate-2w": ("curate", 2), "datasets": ("datasets", 2)}
    chosen = {m.strip() for m in args.methods.split(",") if m.strip()} | {"datasets"}
    if chosen - known.keys():
        p.error(f"--methods: unknown {sorted(chosen - known.keys())}; choose from {sorted(known)}")
    methods = [known[m] for m in known if m in chosen]
    for size in sizes:
        if size is not None:
            t0 = time.perf_counter()
            args.build, args.stage = write_synthetic_stage(scratch / f"build-{size}", size), "bench"
            print(f"synthetic build of {size} records: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        if args.tokenizer is None or size is not None:
            args.tokenizer = write_tokenizer(args.build, args.stage, scratch / f"tok-{size}", args.vocab)
        runs: dict[str, list[dict[str, Any]]] = {}
        for r in range(args.repeat):
            for method, workers in methods:
                name = f"{method}-{workers}w" if method == "curate" else f"datasets-map-num_proc={workers}"
                out = subprocess.run(method_args(args, method, workers), capture_output=True, text=True, check=False)
                if out.returncode != 0:
                    print(out.stderr[-3000:], file=sys.stderr)
                    raise SystemExit(f"{name} failed (run {r + 1})")
                result = json.loads(out.stdout.strip().splitlines()[-1])
                runs.setdefault(name, []).append(result)
                print(f"[{size}] run {r + 1} {name}: {result['seconds']:.1f} s", file=sys.stderr)
        table = {}
        for name, results in runs.items():
            numeric = [k for k, v in results[0].items() if isinstance(v, float | int)]
            med = {k: statistics.median(x[k] for x in results) for k in numeric}
            med["records_per_s"] = med["records"] / med["seconds"]
            med["tokens_per_s"] = med["tokens"] / med["seconds"]
            med["records_per_cpu_s"] = med["records"] / med["cpu_seconds"]
            table[name] = med
        base = table["datasets-map-num_proc=2"]["records_per_s"]
        for med in table.values():
            med["speed_vs_datasets_map"] = med["records_per_s"] / base
        # each run against the datasets run of the same round: on a machine whose speed drifts, the
        # alternating pairs say more than the ratio of medians
        pairs = {
            name: [d["seconds"] / c["seconds"] for c, d in zip(results, runs["datasets-map-num_proc=2"], strict=True)]
            for name, results in runs.items()
            if name != "datasets-map-num_proc=2"
        }
        report["sizes"][str(size or args.build)] = {"medians": table, "runs": runs, "pair_speed_vs_datasets_map": pairs}
        print(f"\n{size or args.build} records, max_seq_len {args.max_seq_len}, medians of {args.repeat}:")
        head = ("method", "rec/s", "tok/s", "x map", "pack eff", "driver MiB", "worker MiB", "anon MiB", "rec/CPU-s")
        print("{:30} {:>9} {:>11} {:>6} {:>8} {:>10} {:>10} {:>8} {:>9}".format(*head))
        for name, m in table.items():
            print(f"{name:30} {m['records_per_s']:9.0f} {m['tokens_per_s']:11.0f} {m['speed_vs_datasets_map']:6.2f} "
                  f"{m['packing_efficiency']:8.3f} {m['driver_peak_mib']:10.0f} {m['worker_peak_mib']:10.0f} "
                  f"{m.get('worker_anon_mib', float('nan')):8.0f} {m['records_per_cpu_s']:9.0f}")  # fmt: skip
        for name, ratios in pairs.items():
            print(f"{name}: speed vs datasets.map per round: {', '.join(f'{x:.2f}' for x in ratios)}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
