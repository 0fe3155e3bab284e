"""Build throughput, side by side in one run: curate on Ray (1 and 2 workers) against HF ``datasets.map``
(num_proc 1 and 2) doing the same conversion, and a bare single-process loop (the ceiling).

    python bench/build_throughput.py --examples 1000000 --json bench/results.json

It writes a synthetic corpus in native formats (PubTator en, CMeEE JSON zh, CSV en, CBLUE JSON zh,
JSONL multiple choice en and zh) covering NER, RE, TC and QA, in --files files per dataset. The
same per-file function (read, validate, make examples, render every example with a template) is what
``datasets.map`` and the bare loop run; curate additionally mixes, deduplicates, orders by hash and
writes manifest-checked shards. Peak memory per curate worker is measured at two corpus sizes.

    python bench/build_throughput.py --memory-sizes 250000,1000000,4000000 --json bench/memory.json

builds each size with 2 Ray workers and reports the driver's and the workers' peak memory, the step that
set each peak (the driver's peak after each step; each worker's per step: extract, render, OrderPartition,
DedupBucket, FinishPartition, WriteShard), the seconds per build step (plan and actors, extract, clean, select, render,
write, report) and the load average; ``curate-inproc`` is the same build through the in-process executor
(no Ray).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CHEMICALS = ["valproate", "lithium", "cisplatin", "haloperidol", "amiodarone", "metformin", "warfarin",
             "doxorubicin", "isoniazid", "gentamicin", "propofol", "carbamazepine", "tacrolimus", "ribavirin"]
DISEASES = ["hepatotoxicity", "tremor", "nephrotoxicity", "dystonia", "pulmonary fibrosis", "lactic acidosis",
            "bleeding", "cardiomyopathy", "neuropathy", "hearing loss", "hypotension", "rash", "anemia"]
ZH_DIS = ["高血压", "糖尿病", "肺炎", "胃溃疡", "冠心病", "支气管炎", "痛风", "偏头痛", "贫血", "哮喘"]
ZH_SYM = ["头痛", "发热", "咳嗽", "腹痛", "恶心", "乏力", "胸闷", "皮疹", "心悸", "失眠"]
ZH_DRU = ["阿司匹林", "布洛芬", "青霉素", "胰岛素", "二甲双胍", "头孢曲松", "奥美拉唑", "氨氯地平"]
TOPICS = ["treatment", "diagnosis", "prevention", "mechanism"]
INTENTS = ["病情诊断", "治疗方案", "注意事项", "功效作用"]

# two records in PLANTED_EVERY are dirt for the cleaning steps to find (so that measuring them is honest): an
# English abstract with mojibake in its title and a near-copy of another (its last word changed), and a
# Chinese record written mostly in English (language mismatch); the corpus also has near-duplicates of its own
# (short templated texts that differ in a number)
PLANTED_EVERY = 100

# examples per source record, as curate's tasks make them (checked by the run)
PER_RECORD = {"pubtator": 4, "cmeee": 4, "csv": 1, "json": 1, "mc_en": 1, "mc_zh": 1}


def write_corpus(root: Path, examples: int, per_file: int, seed: int = 7) -> dict[str, int]:
    """The synthetic corpus, ~``examples`` examples spread evenly over the six datasets, in files of about
    ``per_file`` examples each (a bigger corpus has more files, as real corpora are sharded)."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    per_dataset = examples // len(PER_RECORD)
    files = max(1, round(per_dataset / per_file))
    records = {name: max(files, per_dataset // n) for name, n in PER_RECORD.items()}
    counter = 0
    for name, total in records.items():
        for f in range(files):
            n = total // files
            lines = []
            if name == "pubtator":
                title = body = ""
                for i in range(n):
                    counter += 1
                    if i % PLANTED_EVERY == 2:  # a near-copy of the abstract before (same entities)
                        body = body.removesuffix("was confirmed.") + "was seen."
                    else:
                        c, d = rng.choice(CHEMICALS), rng.choice(DISEASES)
                        cohort = "patient cohort" if i % PLANTED_EVERY else "patient cohort (CafÃ© study)"
                        title = f"Case {counter}: {d} after {c} in a {cohort}."
                        body = (f"We followed {rng.randint(10, 900)} adults given {c} for {rng.randint(2, 40)} "
                                f"weeks. Serum markers rose in {rng.randint(1, 99)} percent of them and {d} was "
                                "confirmed.")
                    text = title + " " + body
                    ann = [(text.index(d), d, "Disease", "D1"), (text.index(c), c, "Chemical", "C1"),
                           (text.rindex(c), c, "Chemical", "C1"), (text.rindex(d), d, "Disease", "D1")]
                    ann = sorted(set(ann))
                    lines.append(f"{counter}|t|{title}\n{counter}|a|{body}\n" + "".join(
                        f"{counter}\t{s}\t{s + len(m)}\t{m}\t{t}\t{i}\n" for s, m, t, i in ann)
                        + f"{counter}\tCID\tC1\tD1\n")
                (root / f"pubtator_{f}.txt").write_text("\n".join(lines), encoding="utf-8")
            elif name == "cmeee":
                rows = []
                for i in range(n):
                    counter += 1
                    dis, sym, dru = rng.choice(ZH_DIS), rng.choice(ZH_SYM), rng.choice(ZH_DRU)
                    days = rng.randint(1, 30)
                    text = (f"第{counter}例{dis}患者出现{sym}，服用{dru}{days}天后好转。" if i % PLANTED_EVERY
                            else f"Case {counter}: a patient with {dis} had {sym} and took {dru} for {days} days, "
                                 "then recovered well.")
                    ents = [{"start_idx": text.index(m), "end_idx": text.index(m) + len(m), "type": t, "entity": m}
                            for m, t in ((dis, "dis"), (sym, "sym"), (dru, "dru"))]
                    rows.append({"text": text, "entities": ents})
                (root / f"cmeee_{f}.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
            elif name == "csv":
                out = ["id,text,label"]
                for _ in range(n):
                    counter += 1
                    topic = rng.choice(TOPICS)
                    out.append(f"r{counter},\"Study {counter} on {rng.choice(CHEMICALS)} and {rng.choice(DISEASES)} "
                               f"({topic} angle, {rng.randint(5, 5000)} participants)\",{topic}")
                (root / f"tc_en_{f}.csv").write_text("\n".join(out) + "\n", encoding="utf-8")
            elif name == "json":
                rows = []
                for _ in range(n):
                    counter += 1
                    query = f"{rng.choice(ZH_DIS)}第{counter}问：{rng.choice(ZH_SYM)}怎么办？"
                    rows.append({"id": f"q{counter}", "query": query, "label": rng.choice(INTENTS)})
                (root / f"tc_zh_{f}.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
            else:
                zh = name == "mc_zh"
                pool = ZH_DRU if zh else CHEMICALS
                for _ in range(n):
                    counter += 1
                    opts = rng.sample(pool, 4)
                    question = (f"第{counter}题：哪种药物最适合{rng.choice(ZH_DIS)}？" if zh else
                                f"Question {counter}: which drug fits {rng.choice(DISEASES)} best?")
                    lines.append(json.dumps({"question": question, "options": dict(zip("ABCD", opts, strict=True)),
                                             "answer_idx": rng.choice("ABCD")}, ensure_ascii=False))
                (root / f"{name}_{f}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return records


def write_catalog(root: Path) -> Path:
    def glob(prefix: str, ext: str) -> str:
        return f"corpus/{prefix}_*.{ext}"

    labels_ner = ("{Chemical: {en: chemical, zh: 化学物质, kind: entity}, "
                  "Disease: {en: disease, zh: 疾病, kind: entity}, "
                  "CID: {en: chemical induces disease, zh: 化学物质诱发疾病, kind: relation}}")
    text = f"""templates: {REPO / 'instruction_templates'}
seed: 0
output: {{rows_per_shard: 50000, decontaminate: false}}
stages: [{{name: all, mixing: {{cap: 1000000000}}}}]   # no cap: every example is rendered, as in the other modes
datasets:
  - {{name: b_pubtator_en, language: en, tasks: [ner, re], format: pubtator,
      files: {{train: {glob('pubtator', 'txt')}}}, labels: {labels_ner}}}
  - {{name: b_cmeee_zh, language: zh, tasks: [ner], format: cmeee, files: {{train: {glob('cmeee', 'json')}}},
      labels: {{dis: {{en: disease, zh: 疾病}}, sym: {{en: symptom, zh: 症状}}, dru: {{en: drug, zh: 药物}}}}}}
  - {{name: b_tc_en, language: en, tasks: [tc], format: tabular, files: {{train: {glob('tc_en', 'csv')}}},
      options: {{kind: tc, id_field: id, fields: {{text: text, labels: label}}}},
      labels: {{{", ".join(f"{t}: {{en: {t}, zh: {t}}}" for t in TOPICS)}}}}}
  - {{name: b_tc_zh, language: zh, tasks: [tc], format: tabular, files: {{train: {glob('tc_zh', 'json')}}},
      options: {{kind: tc, id_field: id, fields: {{text: query, labels: label}}}},
      labels: {{{", ".join(f"{t}: {{en: intent {i}, zh: {t}}}" for i, t in enumerate(INTENTS))}}}}}
  - {{name: b_mc_en, language: en, tasks: [qa], format: tabular, files: {{train: {glob('mc_en', 'jsonl')}}},
      options: {{kind: qa, qa_type: multiple_choice, answer_is: letter,
                fields: {{question: question, choices: options, answer: answer_idx}}}}}}
  - {{name: b_mc_zh, language: zh, tasks: [qa], format: tabular, files: {{train: {glob('mc_zh', 'jsonl')}}},
      options: {{kind: qa, qa_type: multiple_choice, answer_is: letter,
                fields: {{question: question, choices: options, answer: answer_idx}}}}}}
"""
    path = root / "catalog.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --- the per-file function that HF datasets.map and the bare loop run ---------------------------------------

_STATE: dict[str, object] = {}


def _setup(catalog_path: str) -> tuple[object, object]:
    if "catalog" not in _STATE:
        from curate.catalog import load_catalog
        from curate.templates import load_templates

        catalog = load_catalog(catalog_path, check_files=False)
        _STATE["catalog"] = catalog
        _STATE["library"] = load_templates(catalog.templates_dir)
    return _STATE["catalog"], _STATE["library"]


def convert_file(dataset: str, path: str, catalog_path: str) -> list[dict[str, object]]:
    """Read one file, make its examples, render each with a template: curate's phases 1 and 2, in process."""
    from curate.build.extract import process_unit
    from curate.build.plan import ExtractUnit
    from curate.build.record import render_example
    from curate.normalize import normalize_document
    from curate.tasks.base import Example

    catalog, library = _setup(catalog_path)
    rows, _ = process_unit(ExtractUnit(dataset, "train", path, path), catalog.dataset(dataset), normalize_document)
    out = []
    for row in rows:
        record, _ = render_example(Example.from_row(row), 0, catalog, library, 0)
        if record is not None:
            out.append(record)
    return out


def _hf_map(batch: dict[str, list], catalog_path: str) -> dict[str, list]:
    records = [r for d, p in zip(batch["dataset"], batch["path"], strict=True)
               for r in convert_file(d, p, catalog_path)]
    return {"id": [r["id"] for r in records], "dataset": [r["dataset"] for r in records],
            "task": [r["task"] for r in records], "messages": [r["messages"] for r in records],
            "gold": [r["gold"] for r in records]}


def file_list(catalog_path: Path) -> list[tuple[str, str]]:
    from curate.catalog import load_catalog

    catalog = load_catalog(catalog_path)
    return [(e.name, str(p)) for e in catalog.datasets for p in catalog.resolve_files(e, "train")]


# --- the measurements, each in a fresh process ----------------------------------------------------------------

# cleaning variants of a curate mode (docs/cleaning.md): "curate-2-noclean" turns the default-on document
# overlap off; "curate-2+clean" adds near-duplicate detection and every quality filter
CLEANING_VARIANTS = {
    "noclean": {"overlap": False},
    "clean": {"near_duplicates": {"enabled": True},
              "quality": {"language_mismatch": 0.5, "mojibake": True, "degenerate_responses": True,
                          "copied_prompt": True, "min_chars": {"qa": 20}, "max_chars": {"ner": 5000}}},
}


def cleaning_variant(catalog_path: Path, mode: str) -> Path:
    """The catalog for a mode: the benchmark's own, or a copy with a cleaning variant's output settings."""
    name = "clean" if mode.endswith("+clean") else "noclean" if mode.endswith("-noclean") else None
    if name is None:
        return catalog_path
    import yaml

    catalog = yaml.safe_load(catalog_path.read_text(encoding="utf-8"))
    catalog["output"].update(CLEANING_VARIANTS[name])
    path = catalog_path.with_name(f"catalog-{name}.yaml")
    path.write_text(yaml.safe_dump(catalog, allow_unicode=True), encoding="utf-8")
    return path


def run_mode(mode: str, catalog_path: Path, work: Path) -> dict[str, object]:
    files = file_list(catalog_path)
    start = time.perf_counter()
    if mode.startswith("curate") and not mode.startswith("curate-inproc"):
        import ray

        from curate.build import run_build, start_local_ray

        workers = int(mode.split("-")[1].split("+")[0])
        catalog_path = cleaning_variant(catalog_path, mode)
        shutil.rmtree(work / mode, ignore_errors=True)  # a fresh build each run, never a resumed one
        t0 = time.perf_counter()
        start_local_ray(num_cpus=2, log_to_driver=False, _temp_dir=tempfile.mkdtemp(prefix="rb", dir="/tmp"))
        init_s = time.perf_counter() - t0
        start, cpu = time.perf_counter(), time.process_time()
        result = run_build(catalog_path, work / mode, workers=workers, progress=False)
        elapsed, driver_cpu = time.perf_counter() - start, time.process_time() - cpu
        assert not any(result.resumed.values()), f"{mode} resumed an earlier run: {result.resumed}"
        rows = sum(s["rows"] for s in result.manifest["shards"])
        ray.shutdown()
        return {"mode": mode, "seconds": elapsed, "ray_init_seconds": init_s, "examples": rows,
                **_removed(work / mode), "driver_cpu_seconds": driver_cpu,
                "worker_peak_rss_mb": result.worker_peak_rss_mb, "steps_seconds": result.timings,
                "driver_peak_rss_mb_by_step": result.driver_peak_rss_mb,
                "worker_peak_rss_mb_by_step": result.worker_peak_rss_by_step,
                "driver_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if mode.startswith("curate-inproc"):
        from curate.build import run_build

        catalog_path = cleaning_variant(catalog_path, mode)
        shutil.rmtree(work / mode, ignore_errors=True)
        start, cpu = time.perf_counter(), time.process_time()
        result = run_build(catalog_path, work / mode, in_process=True, progress=False)
        # one process does all of the build's work: its CPU time is the build's, little disturbed by load
        elapsed, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
        rows = sum(s["rows"] for s in result.manifest["shards"])
        return {"mode": mode, "seconds": elapsed, "cpu_seconds": cpu_seconds, "examples": rows,
                **_removed(work / mode), "steps_seconds": result.timings,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if mode.startswith("hf"):
        import datasets

        datasets.disable_progress_bars()
        nproc = int(mode.split("-")[1])
        source = datasets.Dataset.from_dict({"dataset": [d for d, _ in files], "path": [p for _, p in files]})
        mapped = source.map(_hf_map, batched=True, batch_size=1, num_proc=nproc if nproc > 1 else None,
                            remove_columns=["dataset", "path"], fn_kwargs={"catalog_path": str(catalog_path)},
                            cache_file_name=str(work / mode / "cache.arrow"), load_from_cache_file=False)
        mapped.to_parquet(str(work / mode / "out.parquet"))
        elapsed = time.perf_counter() - start
        return {"mode": mode, "seconds": elapsed, "examples": len(mapped),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "children_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}
    # bare loop: parse and render only, nothing written
    n = sum(len(convert_file(d, p, str(catalog_path))) for d, p in files)
    return {"mode": mode, "seconds": time.perf_counter() - start, "examples": n,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _removed(out: Path) -> dict[str, object]:
    """What the build's "all" output removed, by column, and how many examples it started from."""
    counts = json.loads((out / "all" / "manifest.json").read_text(encoding="utf-8"))["counts"]
    removed = {k: sum(r.get(k, 0) for r in counts["by_dataset"])
               for k in ("deduplicated", "decontaminated", "near_duplicates", "rejected")}
    return {"removed": removed, "input_examples": sum(r["examples"] for r in counts["by_dataset"])}


def cleaning_modes(modes: list[str], cleaning: list[str]) -> list[str]:
    """``--cleaning on,off``: each curate mode as it is (off: the default cleaning, overlap only) and with
    every cleaning step on (``+clean``), in the order given, so that --repeat alternates them."""
    out = []
    for mode in modes:
        if not mode.startswith("curate") or mode.endswith(("+clean", "-noclean")):
            out.append(mode)
            continue
        out += [mode + "+clean" if c == "on" else mode for c in cleaning]
    return out


def cleaning_ratios(runs: dict[str, list[dict[str, object]]]) -> dict[str, float]:
    """Cleaning on / off per curate mode measured both ways: the ratio of the median wall seconds, and of the
    median CPU seconds where the whole build ran in one process (curate-inproc), each median taken over that
    mode's own runs."""
    from statistics import median

    ratios = {}
    for mode, on in runs.items():
        off = runs.get(mode.removesuffix("+clean")) if mode.endswith("+clean") else None
        if not off:
            continue
        base = mode.removesuffix("+clean")
        for key, label in (("seconds", "seconds"), ("cpu_seconds", "CPU seconds")):
            if all(key in r for r in on + off):
                ratios[f"{base}: cleaning on / off, {label}"] = (median(r[key] for r in on)  # type: ignore[misc]
                                                                 / median(r[key] for r in off))  # type: ignore[misc]
    return ratios


def measure(mode: str, catalog_path: Path, work: Path) -> dict[str, object]:
    (work / mode).mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, __file__, "--run-mode", mode, "--catalog", str(catalog_path),
                           "--work", str(work)], capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["examples_per_s"] = result["examples"] / result["seconds"]
    cpu = f", {result['cpu_seconds']:7.1f} CPU s" if "cpu_seconds" in result else ""
    print(f"  {mode:10s} {result['examples']:>9,} examples in {result['seconds']:7.1f} s{cpu} = "
          f"{result['examples_per_s']:>9,.0f} examples/s", flush=True)
    return result


def _median_run(runs: list[dict[str, object]]) -> dict[str, object]:
    """The run with the median time (the lower middle one for an even count)."""
    ordered = sorted(runs, key=lambda r: r["seconds"])  # type: ignore[arg-type, return-value]
    return {**ordered[(len(ordered) - 1) // 2], "runs": len(runs)}


def memory_scan(work: Path, sizes: list[int], per_file: int, json_path: Path | None) -> None:
    """Driver and worker peak memory and seconds per step of a 2-worker build at each corpus size."""
    rows = []
    for size in sizes:
        root = work / f"mem-{size}"
        shutil.rmtree(root, ignore_errors=True)
        write_corpus(root / "corpus", size, per_file)
        result = measure("curate-2", write_catalog(root), root / "runs")
        rows.append({"examples_requested": size, "examples": result["examples"], "seconds": result["seconds"],
                     "driver_peak_rss_mb": round(result["driver_peak_rss_mb"], 1),  # type: ignore[arg-type]
                     "worker_peak_rss_mb": round(max(result["worker_peak_rss_mb"]), 1),  # type: ignore[arg-type]
                     "steps_seconds": result["steps_seconds"],
                     "driver_peak_rss_mb_by_step": result["driver_peak_rss_mb_by_step"],
                     "worker_peak_rss_mb_by_step": result["worker_peak_rss_mb_by_step"],
                     "load_average": os.getloadavg()})
        shutil.rmtree(root, ignore_errors=True)
    print(f"\n{'examples':>10} {'driver MB':>10} {'worker MB':>10}  seconds per step")
    for row in rows:
        print(f"{row['examples']:>10,} {row['driver_peak_rss_mb']:>10.0f} {row['worker_peak_rss_mb']:>10.0f}  "
              f"{row['steps_seconds']}")
        print(f"{'':>10} driver peak after each step: {row['driver_peak_rss_mb_by_step']}")
        print(f"{'':>10} worker peaks by step: {row['worker_peak_rss_mb_by_step']}")
    if json_path:
        json_path.write_text(json.dumps({"memory_scan": rows, "cpus": os.cpu_count()}, indent=2), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=0, help="second, smaller corpus size for the memory check "
                                                               "(default: a quarter of --examples)")
    parser.add_argument("--per-file", type=int, default=20_000, help="examples per source file")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--modes", default="bare,hf-1,hf-2,curate-1,curate-2")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run the modes of --repeat-modes this many times, alternating, and keep the median "
                             "(the machine's speed drifts by several percent between runs)")
    parser.add_argument("--repeat-modes", default="hf-2,curate-2")
    parser.add_argument("--cleaning", default="", help="'on,off': run each curate mode of --modes with every "
                        "cleaning step on (near-duplicates, all quality filters) and with the default (overlap only), "
                        "alternating under --repeat, and report the ratio; curate-inproc also gives CPU seconds")
    parser.add_argument("--memory-sizes", default="", help="comma-separated corpus sizes: build each with 2 workers "
                        "and report driver and worker peak memory and seconds per step (nothing else runs)")
    parser.add_argument("--run-mode", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--catalog", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_mode:
        print(json.dumps(run_mode(args.run_mode, args.catalog, args.work)))
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="curate-bench-"))
    if args.memory_sizes:
        memory_scan(work, [int(n) for n in args.memory_sizes.split(",")], args.per_file, args.json)
        return
    results: dict[str, object] = {"examples_requested": args.examples, "examples_per_file": args.per_file,
                                  "cpus": os.cpu_count()}
    for label, size in (("small", args.small or args.examples // 4), ("full", args.examples)):
        root = work / label
        shutil.rmtree(root, ignore_errors=True)
        t0 = time.perf_counter()
        write_corpus(root / "corpus", size, args.per_file)
        catalog = write_catalog(root)
        print(f"{label}: corpus of ~{size:,} examples written in {time.perf_counter() - t0:.1f} s", flush=True)
        modes = args.modes.split(",") if label == "full" else ["curate-2"]
        repeated = [m for m in args.repeat_modes.split(",") if m in modes] if label == "full" else []
        if args.cleaning and label == "full":
            modes = cleaning_modes(modes, args.cleaning.split(","))
            repeated = [m for m in modes if m.startswith("curate") or m in repeated]  # and --repeat-modes
        runs: dict[str, list[dict[str, object]]] = {m: [] for m in modes}
        for round_ in range(max(1, args.repeat)):
            for m in modes:
                if round_ == 0 or m in repeated:
                    runs[m].append(measure(m, catalog, root / "runs"))
        results[label] = {m: _median_run(r) for m, r in runs.items()}
        if any(len(r) > 1 for r in runs.values()):
            results[f"{label}_runs"] = {m: [x["seconds"] for x in r] for m, r in runs.items()}
            if any("cpu_seconds" in x for r in runs.values() for x in r):
                results[f"{label}_cpu_runs"] = {m: [x["cpu_seconds"] for x in r if "cpu_seconds" in x]
                                                for m, r in runs.items()}
        if label == "full":
            cleaning = cleaning_ratios(runs)
    full = results["full"]
    rate = {m: r["examples_per_s"] for m, r in full.items()}  # type: ignore[union-attr]
    ratios = {}
    if "curate-1" in rate and "curate-2" in rate:
        ratios["curate 2 workers / 1 worker"] = rate["curate-2"] / rate["curate-1"]
    if "curate-2" in rate and "hf-2" in rate:
        ratios["curate 2 workers / datasets.map num_proc=2"] = rate["curate-2"] / rate["hf-2"]
    if "hf-1" in rate and "hf-2" in rate:
        ratios["datasets.map num_proc=2 / num_proc=1"] = rate["hf-2"] / rate["hf-1"]
    if "bare" in rate and "curate-2" in rate:
        ratios["curate 2 workers / bare single-process loop"] = rate["curate-2"] / rate["bare"]
    ratios.update(cleaning)
    results["ratios"] = ratios
    small_peak = max(results["small"]["curate-2"]["worker_peak_rss_mb"])  # type: ignore[index]
    full_peak = max(full["curate-2"]["worker_peak_rss_mb"]) if "curate-2" in full else 0.0  # type: ignore[index]
    results["worker_peak_rss_mb"] = {"small": small_peak, "full": full_peak}
    print("\nratios:")
    for name, value in ratios.items():
        print(f"  {name:45s} {value:5.2f}x")
    print(f"peak memory per curate worker: {small_peak:.0f} MB at {args.small or args.examples // 4:,} examples, "
          f"{full_peak:.0f} MB at {args.examples:,}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
