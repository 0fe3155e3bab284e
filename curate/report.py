"""What a build tells a person: stats.json, distribution plots, and a dataset card README.md.

Everything here is derived from the manifests and the mixture, after the shards are written, and
is deterministic (no timestamps; plots saved without metadata) so reruns stay byte-identical.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from curate import storage
from curate.atomic_files import write_atomic, write_json
from curate.catalog import Catalog

TASK_CATEGORIES = {  # Hugging Face task categories for the dataset card
    "ner": "token-classification", "nen": "token-classification", "re": "text-generation",
    "ee": "text-generation", "tc": "text-classification", "tp": "sentence-similarity",
    "qa": "question-answering", "dialogue": "text-generation", "mt": "translation", "t2t": "summarization",
}


def build_stats(out: Path, manifest: dict[str, Any], mixture: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per output: examples per task × language before mixing (available) and after (written)."""
    stats: dict[str, Any] = {"outputs": {}}
    for output, info in sorted(manifest["outputs"].items()):
        stage = json.loads(storage.read_text(out / info["manifest"]))
        before: Counter[str] = Counter()
        after: Counter[str] = Counter()
        excluded: Counter[str] = Counter()
        by_dataset: dict[str, dict[str, int]] = defaultdict(dict)
        # a dataset × task × language the stage does not take has no quota in the mixture: excluded by design
        quoted = {(q["dataset"], q["task"], q["language"]) for q in mixture.get(output, [])}
        for row in stage["counts"]["by_dataset"]:
            key = f"{row['task']}.{row['language']}"
            if output in mixture and (row["dataset"], row["task"], row["language"]) not in quoted:
                excluded[key] += row["examples"]
            before[key] += row["examples"]
            after[key] += row["written"]
            by_dataset[row["dataset"]][row["task"]] = row["written"]
        stats["outputs"][output] = {
            "rows": stage["rows"], "shards": len(stage["shards"]),
            "before_mixing": dict(sorted(before.items())), "after_mixing": dict(sorted(after.items())),
            "written_by_dataset": {d: dict(sorted(t.items())) for d, t in sorted(by_dataset.items())},
            "language_share": _shares(after, position=1), "task_share": _shares(after, position=0),
            "excluded_by_stage": dict(sorted(excluded.items())),
        }
    stats["quotas"] = mixture
    return stats


def _shares(counts: Counter[str], position: int) -> dict[str, float]:
    total = sum(counts.values())
    grouped: Counter[str] = Counter()
    for key, n in counts.items():
        grouped[key.split(".")[position]] += n
    return {k: round(v / total, 4) for k, v in sorted(grouped.items())} if total else {}


LANGUAGE_COLORS = {"en": ("#9bb7d4", "#2a5d8f"), "zh": ("#f2c29b", "#c0621a")}  # (available, written)
OTHER_COLORS = ("#cccccc", "#666666")


def _save(fig: Any, path: Path) -> None:
    """Save without metadata (no timestamp or version): reruns give the same bytes."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with storage.output_file(path) as tmp:
        fig.savefig(tmp, dpi=100, metadata={"Software": None})
    plt.close(fig)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_distribution(stats: dict[str, Any], path: Path) -> None:
    """One panel per output: for each task × language, examples available to the stage and written after
    mixing, coloured by language and labelled with counts; tasks the stage excludes by design are drawn
    apart (grey, hatched), not as data that mixing sampled out."""
    plt = _pyplot()
    outputs = [o for o in stats["outputs"] if stats["outputs"][o]["rows"]]
    fig, axes = plt.subplots(len(outputs) or 1, 1, figsize=(12, 3.6 * max(1, len(outputs))), squeeze=False)
    for ax, output in zip(axes[:, 0], outputs, strict=False):
        data = stats["outputs"][output]
        excluded = data.get("excluded_by_stage", {})
        taken = sorted(k for k in set(data["before_mixing"]) | set(data["after_mixing"]) if k not in excluded)
        keys = taken + sorted(excluded)
        xs = list(range(len(keys)))
        for x, key in zip(xs, keys, strict=True):
            language = key.split(".")[1]
            light, dark = LANGUAGE_COLORS.get(language, OTHER_COLORS)
            if key in excluded:
                bar = ax.bar([x], [excluded[key]], width=0.8, color="#eeeeee", edgecolor="#999999", hatch="//")
                ax.bar_label(bar, fontsize=7, color="#777777")
                continue
            available = data["before_mixing"].get(key, 0)
            written = data["after_mixing"].get(key, 0)
            bars = ax.bar([x - 0.2, x + 0.2], [available, written], width=0.4, color=[light, dark])
            ax.bar_label(bars, fontsize=7)
        if excluded:
            ax.axvline(len(taken) - 0.5, color="#999999", linestyle=":")
        ax.set_xticks(xs, [k.replace(".", "\n") for k in keys], fontsize=8)
        ax.set_ylabel("examples")
        shares = ", ".join(f"{lang} {share:.0%}" for lang, share in data["language_share"].items())
        ax.set_title(f"{output}: examples per task × language (written: {shares})")
        from matplotlib.patches import Patch

        handles = [Patch(color=c, label=f"{lang} {what}") for lang, pair in LANGUAGE_COLORS.items()
                   for what, c in zip(("available", "written"), pair, strict=True)]
        if excluded:
            handles.append(Patch(facecolor="#eeeeee", edgecolor="#999999", hatch="//",
                                 label="excluded by the stage (not sampled out)"))
        ax.legend(handles=handles, fontsize=7, ncol=3)
        ax.margins(y=0.15)
    _save(fig, path)


def plot_quotas(mixture: dict[str, list[dict[str, Any]]], path: Path) -> None:
    """Per stage, each dataset × task × language: examples available and the quota mixing resolved,
    on a log scale (quotas span from a handful to the cap)."""
    plt = _pyplot()
    from matplotlib.ticker import FuncFormatter

    stages = [s for s in mixture if mixture[s]] or ["(none)"]
    heights = [max(2.0, 0.28 * len(mixture.get(s, [])) + 1.2) for s in stages]
    fig, axes = plt.subplots(len(stages), 1, figsize=(10, sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, stage in zip(axes[:, 0], stages, strict=True):
        rows = sorted(mixture.get(stage, []), key=lambda q: (q["dataset"], q["task"], q["language"]))
        ys = list(range(len(rows)))
        available = ax.barh([y + 0.2 for y in ys], [max(q["available"], 1) for q in rows], height=0.4,
                            color="#9bb7d4", label="available")
        quota = ax.barh([y - 0.2 for y in ys], [max(q["quota"], 1) for q in rows], height=0.4, color="#2a5d8f",
                        label="quota")
        ax.bar_label(available, labels=[f"{q['available']:,}" for q in rows], fontsize=7, padding=2)
        ax.bar_label(quota, labels=[f"{q['quota']:,}" for q in rows], fontsize=7, padding=2)
        ax.set_yticks(ys, [f"{q['dataset']} · {q['task']} · {q['language']}" for q in rows], fontsize=7)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlim(left=0.8)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
        ax.set_xlabel("examples (log scale)")
        ax.set_title(f"{stage}: quota vs available per dataset")
        ax.legend(fontsize=7, loc="lower right")
    _save(fig, path)


def _card_header(manifest: dict[str, Any], entries: list[Any]) -> dict[str, Any]:
    """The card's YAML header through huggingface_hub's DatasetCardData: Hub license ids, a size bucket,
    one default config, tags and source datasets."""
    from huggingface_hub import DatasetCardData

    from curate.hub_metadata import hub_license, license_slug, size_category

    licenses = {e.name: hub_license(e.license) for e in entries}
    ids = sorted(set(licenses.values())) or ["unknown"]
    others = sorted({e.license for e in entries if licenses[e.name] == "other" and e.license})
    tasks = sorted({t for e in entries for t in e.tasks})
    languages = sorted({e.language for e in entries})
    total = sum(s["rows"] for s in manifest["shards"])
    outputs = sorted(manifest["outputs"])
    training = [o for o in outputs if o != "eval"]
    default = training[-1] if training else outputs[0]  # the last training stage holds the full mixture
    configs = []
    for output in outputs:
        splits = sorted({s["split"] for s in manifest["shards"] if s["stage"] == output})
        config: dict[str, Any] = {"config_name": output, "data_files": [
            {"split": split, "path": f"{output}/{split}-*.parquet"} for split in splits]}
        if output == default:
            config["default"] = True
        configs.append(config)
    extra: dict[str, Any] = {}
    if others:
        extra["license_name"] = license_slug(others[0]) if len(others) == 1 else "multiple-source-licenses"
        extra["license_link"] = "README.md#source-datasets"  # the per-dataset table below
    multilinguality = ["multilingual" if len(languages) > 1 else "monolingual"]
    if "mt" in tasks:
        multilinguality.append("translation")
    card_data = DatasetCardData(
        license=ids[0] if len(ids) == 1 else ids,
        language=languages,
        multilinguality=multilinguality,
        task_categories=sorted({TASK_CATEGORIES[t] for t in tasks if t in TASK_CATEGORIES}),
        size_categories=[size_category(total)],
        source_datasets=["extended"],
        pretty_name="curate instruction build",
        tags=["medical", "biomedical", "instruction-tuning"],
        configs=configs,
        **extra,
    )
    return card_data.to_dict()


def dataset_card(catalog: Catalog, manifest: dict[str, Any], stats: dict[str, Any]) -> str:
    """A Hugging Face dataset card: YAML header (license, languages, tasks, sizes, configs) and tables."""
    used = sorted({row["dataset"] for o in manifest["outputs"]
                   for row in _rows(stats, o)})
    entries = [catalog.dataset(name) for name in used]
    header = _card_header(manifest, entries)
    import yaml

    from curate.hub_metadata import hub_license

    lines = ["---", yaml.safe_dump(header, allow_unicode=True, sort_keys=True).strip(), "---", "",
             "# Instruction data built by curate", "",
             f"Built from `{manifest['catalog']}` with seed {manifest['seed']} (config hash "
             f"`{manifest['config_hash']}`), curate {manifest['curate_version']}. Each row is an instruction record "
             "in chat form (`messages`) with its source (`provenance`) and a parseable gold answer (`gold`). "
             f"`load_dataset(\"<this folder>\")` loads the default config; name one of "
             f"{', '.join(c['config_name'] for c in header['configs'])} for another.", "",
             "## Outputs", "", "| output | rows | shards | language share | task share |", "|---|---|---|---|---|"]
    for output, data in stats["outputs"].items():
        lines.append(f"| {output} | {data['rows']:,} | {data['shards']} | "
                     f"{', '.join(f'{k} {v:.0%}' for k, v in data['language_share'].items())} | "
                     f"{', '.join(f'{k} {v:.0%}' for k, v in data['task_share'].items())} |")
    lines += ["", "## Source datasets", "",
              "| dataset | language | tasks | license (as catalogued) | Hub id | homepage |",
              "|---|---|---|---|---|---|"]
    for e in entries:
        lines.append(f"| {e.name} | {e.language} | {', '.join(e.tasks)} | {e.license or 'unknown'} | "
                     f"{hub_license(e.license)} | {e.homepage or ''} |")
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
    plot_quotas(mixture, out / "quotas.png")
    write_atomic(out / "README.md", dataset_card(catalog, manifest, stats))
