"""What a build tells a person: stats.json, distribution plots, and a dataset card README.md.

Everything here is derived from the manifests and the mixture, after the shards are written, and
is deterministic (no timestamps; plots saved without metadata) so reruns stay byte-identical.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from curate.catalog import Catalog
from curate.shards import write_atomic, write_json

TASK_CATEGORIES = {  # Hugging Face task categories for the dataset card
    "ner": "token-classification", "nen": "token-classification", "re": "text-generation",
    "ee": "text-generation", "tc": "text-classification", "tp": "sentence-similarity",
    "qa": "question-answering", "dialogue": "text-generation", "mt": "translation", "t2t": "summarization",
}


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                        (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):
        if n < limit:
            return name
    return "n>10M"


def build_stats(out: Path, manifest: dict[str, Any], mixture: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per output: examples per task × language before mixing (available) and after (written)."""
    stats: dict[str, Any] = {"outputs": {}}
    for output, info in sorted(manifest["outputs"].items()):
        stage = json.loads((out / info["manifest"]).read_text(encoding="utf-8"))
        before: Counter[str] = Counter()
        after: Counter[str] = Counter()
        by_dataset: dict[str, dict[str, int]] = defaultdict(dict)
        for row in stage["counts"]["by_dataset"]:
            key = f"{row['task']}.{row['language']}"
            before[key] += row["examples"]
            after[key] += row["written"]
            by_dataset[row["dataset"]][row["task"]] = row["written"]
        stats["outputs"][output] = {
            "rows": stage["rows"], "shards": len(stage["shards"]),
            "before_mixing": dict(sorted(before.items())), "after_mixing": dict(sorted(after.items())),
            "written_by_dataset": {d: dict(sorted(t.items())) for d, t in sorted(by_dataset.items())},
            "language_share": _shares(after, position=1), "task_share": _shares(after, position=0),
        }
    stats["quotas"] = mixture
    return stats


def _shares(counts: Counter[str], position: int) -> dict[str, float]:
    total = sum(counts.values())
    grouped: Counter[str] = Counter()
    for key, n in counts.items():
        grouped[key.split(".")[position]] += n
    return {k: round(v / total, 4) for k, v in sorted(grouped.items())} if total else {}


def plot_distribution(stats: dict[str, Any], path: Path) -> None:
    """Bars of examples per task × language, before and after mixing, one panel per output."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outputs = [o for o in stats["outputs"] if stats["outputs"][o]["rows"]]
    fig, axes = plt.subplots(len(outputs) or 1, 1, figsize=(10, 3.2 * max(1, len(outputs))), squeeze=False)
    for ax, output in zip(axes[:, 0], outputs, strict=False):
        data = stats["outputs"][output]
        keys = sorted(set(data["before_mixing"]) | set(data["after_mixing"]))
        xs = range(len(keys))
        ax.bar([x - 0.2 for x in xs], [data["before_mixing"].get(k, 0) for k in keys], width=0.4,
               label="available (before mixing)", color="#9bb7d4")
        ax.bar([x + 0.2 for x in xs], [data["after_mixing"].get(k, 0) for k in keys], width=0.4,
               label="written (after mixing)", color="#2a5d8f")
        ax.set_xticks(list(xs), [k.replace(".", "\n") for k in keys])
        ax.set_ylabel("examples")
        ax.set_title(f"{output}: task × language")
        ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=100, metadata={"Software": None})
    plt.close(fig)
    tmp.replace(path)


def dataset_card(catalog: Catalog, manifest: dict[str, Any], stats: dict[str, Any]) -> str:
    """A Hugging Face dataset card: YAML header (license, languages, tasks, sizes, configs) and tables."""
    used = sorted({row["dataset"] for o in manifest["outputs"]
                   for row in _rows(stats, o)})
    entries = [catalog.dataset(name) for name in used]
    licenses = sorted({e.license or "unknown" for e in entries})
    tasks = sorted({t for e in entries for t in e.tasks})
    total = sum(s["rows"] for s in manifest["shards"])
    configs = []
    for output in sorted(manifest["outputs"]):
        splits = sorted({s["split"] for s in manifest["shards"] if s["stage"] == output})
        configs.append({"config_name": output, "data_files": [
            {"split": split, "path": f"{output}/{split}-*.parquet"} for split in splits]})
    header = {
        "license": "other" if len(licenses) > 1 else licenses[0],
        "license_details": "; ".join(f"{e.name}: {e.license or 'unknown'}" for e in entries),
        "language": sorted({e.language for e in entries}),
        "multilinguality": "multilingual",
        "task_categories": sorted({TASK_CATEGORIES[t] for t in tasks if t in TASK_CATEGORIES}),
        "size_categories": [_size_category(total)],
        "pretty_name": "curate instruction build",
        "configs": configs,
    }
    import yaml

    lines = ["---", yaml.safe_dump(header, allow_unicode=True, sort_keys=True).strip(), "---", "",
             "# Instruction data built by curate", "",
             f"Built from `{manifest['catalog']}` with seed {manifest['seed']} (config hash "
             f"`{manifest['config_hash']}`), curate {manifest['curate_version']}. Each row is an instruction record "
             "in chat form (`messages`) with its source (`provenance`) and a parseable gold answer (`gold`).", "",
             "## Outputs", "", "| output | rows | shards | language share | task share |", "|---|---|---|---|---|"]
    for output, data in stats["outputs"].items():
        lines.append(f"| {output} | {data['rows']:,} | {data['shards']} | "
                     f"{', '.join(f'{k} {v:.0%}' for k, v in data['language_share'].items())} | "
                     f"{', '.join(f'{k} {v:.0%}' for k, v in data['task_share'].items())} |")
    lines += ["", "## Source datasets", "", "| dataset | language | tasks | license | homepage |",
              "|---|---|---|---|---|"]
    for e in entries:
        lines.append(f"| {e.name} | {e.language} | {', '.join(e.tasks)} | {e.license or 'unknown'} | "
                     f"{e.homepage or ''} |")
    lines += ["", "## Cleaning", "",
              "Exact duplicates (normalized prompt + response) were removed across datasets; training examples "
              "sharing a long n-gram with any evaluation input were removed (`contamination.json`); Traditional "
              "Chinese was converted to Simplified with OpenCC; bad source records are listed in `rejects/`.", "",
              "Licenses are those of the source corpora: check each before redistributing.", ""]
    return "\n".join(lines)


def _rows(stats: dict[str, Any], output: str) -> list[dict[str, Any]]:
    data = stats["outputs"].get(output, {})
    return [{"dataset": d} for d in data.get("written_by_dataset", {})]


def write_reports(catalog: Catalog, out: Path, manifest: dict[str, Any],
                  mixture: dict[str, list[dict[str, Any]]]) -> None:
    stats = build_stats(out, manifest, mixture)
    write_json(out / "stats.json", stats)
    plot_distribution(stats, out / "distribution.png")
    write_atomic(out / "README.md", dataset_card(catalog, manifest, stats))
