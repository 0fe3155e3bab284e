"""The ``curate`` command line: thin commands that call the library and show progress and tables.

Heavy libraries (ray, pyarrow, torch, transformers) are imported inside commands, so ``curate --help``
answers at once.
"""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from curate.errors import CurateError

# exit codes: 2 for a usage error (click's own, and unknown names given to an option), 1 for bad data or
# a runtime failure (a CurateError: bad catalog, missing build, unwritable output...)
EXIT_ERROR = 1

app = typer.Typer(help="Bilingual biomedical instruction data from native corpora, built on Ray.",
                  no_args_is_help=True, add_completion=True, pretty_exceptions_enable=False)
catalog_app = typer.Typer(help="Inspect the catalog.", no_args_is_help=True)
templates_app = typer.Typer(help="Lint, list and preview instruction templates.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
app.add_typer(templates_app, name="templates")


def _register_training() -> None:
    """`curate train` and `curate generate` live in curate/commands/train.py (light imports only)."""
    from curate.commands.train import generate_command, train_command

    app.command("train", help="Fine-tune on a build's stages with Ray Train + DeepSpeed (stage 1, then 2).")(
        train_command)
    app.command("generate", help="Generate answers for a build's eval records, for `curate eval`.")(
        generate_command)


_register_training()

def _catalog_names(ctx: typer.Context, kind: str) -> list[str]:
    """Stage or dataset names of the command's catalog, for shell completion (nothing when it cannot load)."""
    from curate.catalog import load_catalog

    try:
        catalog = load_catalog(ctx.params.get("catalog") or Path("catalog.yaml"), check_files=False)
    except Exception:  # completion must never print an error into the user's shell
        return []
    return [s.name for s in catalog.stages] if kind == "stage" else [e.name for e in catalog.datasets]


def complete_stage(ctx: typer.Context, incomplete: str) -> list[str]:
    return [n for n in _catalog_names(ctx, "stage") if n.startswith(incomplete)]


def complete_dataset(ctx: typer.Context, incomplete: str) -> list[str]:
    return [n for n in _catalog_names(ctx, "dataset") if n.startswith(incomplete)]


CatalogOpt = Annotated[Path, typer.Option("--catalog", "-c", help="catalog YAML file", is_eager=True)]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def _version(value: bool) -> None:
    if value:
        from curate import __version__

        typer.echo(f"curate {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="print curate's version and exit")] = False,
) -> None:
    """Bilingual biomedical instruction data from native corpora, built on Ray."""


def _color() -> bool | None:
    """False when NO_COLOR is set (https://no-color.org), else click decides (colour on terminals only)."""
    return False if os.environ.get("NO_COLOR") else None


def secho(message: str, err: bool = False, **style: Any) -> None:
    """typer.secho that honours NO_COLOR."""
    typer.secho(message, err=err, color=_color(), **style)


def _fail(exc: Exception) -> None:
    secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(EXIT_ERROR)


def _choices(given: list[str] | None, valid: list[str], option: str, what: str) -> None:
    """Reject names that are not among ``valid`` as a usage error (exit 2) that lists the valid ones."""
    unknown = [g for g in given or [] if g not in valid]
    if unknown:
        raise typer.BadParameter(f"unknown {what} {', '.join(map(repr, unknown))}; choose from: {', '.join(valid)}",
                                 param_hint=option)


PIPED_TABLE_WIDTH = 100_000  # not a terminal: never cut a column (a table is as wide as its content)


def _table(rows: list[dict[str, Any]], columns: list[str], title: str = "") -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title or None)
    for column in columns:
        table.add_column(column, justify="right" if rows and isinstance(rows[0].get(column), int | float) else "left")
    for row in rows:
        table.add_row(*[f"{row.get(c, ''):,}" if isinstance(row.get(c), int) else str(row.get(c, "")) for c in columns])
    console = Console() if sys.stdout.isatty() else Console(width=PIPED_TABLE_WIDTH, no_color=True)
    console.print(table)


@app.command()
def build(
    catalog: CatalogOpt = Path("catalog.yaml"),
    out: Annotated[Path, typer.Option("--out", "-o", help="output directory")] = Path("out"),
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Ray actors converting in parallel")] = 2,
    seed: Annotated[int | None, typer.Option("--seed", help="override the catalog's seed")] = None,
    address: Annotated[str | None, typer.Option("--address", help="Ray cluster address (default: RAY_ADDRESS, "
                                                                  "else an embedded local Ray)")] = None,
    stage: Annotated[list[str] | None, typer.Option("--stage", help="build only these stages (names from the "
                                                                    "catalog's `stages:`)",
                                                    autocompletion=complete_stage)] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="progress on stderr: a bar on a "
                                           "terminal, plain lines every few seconds elsewhere")] = True,
    keep_work: Annotated[bool, typer.Option("--keep-work", help="keep OUT/.work (intermediate files) after a "
                                            "successful build; a failed build always keeps it to resume")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Build instruction shards for every stage of the catalog (two phases on Ray)."""
    from curate.build import run_build
    from curate.catalog import load_catalog
    from curate.ray_address import cluster_address

    try:
        _choices(stage, [s.name for s in load_catalog(catalog, check_files=False).stages], "--stage", "stage")
        _check_writable(out, "--out")
        result = run_build(catalog, out, workers=workers, seed=seed, address=cluster_address(address),
                           progress=progress, stages=stage)
    except CurateError as exc:
        _fail(exc)
        return
    from curate import storage

    if not keep_work:
        storage.remove_tree(result.out_dir / ".work")
    _print_notices(result.notices)
    mixture = json.loads(storage.read_text(result.out_dir / "mixture.json"))
    if not as_json:
        _table([{"stage": stage_name, "dataset": q["dataset"], "task": q["task"], "lang": q["language"],
                 "available": q["available"], "quota": q["quota"]}
                for stage_name, quotas in mixture.items() for q in quotas],
               ["stage", "dataset", "task", "lang", "available", "quota"], title="resolved mixture")
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for stage_name, info in result.manifest["outputs"].items():
        stage_manifest = json.loads(storage.read_text(result.out_dir / info["manifest"]))
        # `excluded`: a dataset × task × language with no quota in the stage's mixture (the stage's design)
        for r in stage_manifest["counts"]["by_dataset"]:
            key = (stage_name, f"{r['dataset']}/{r['task']}")
            rows[key] = {"output": stage_name, "dataset/task": key[1], "lang": r["language"], **{
                k: r[k] for k in ("examples", "written", "excluded", "sampled_out", "deduplicated",
                                  "decontaminated", "rejected")}}
    total = sum(s["rows"] for s in result.manifest["shards"])
    rejected = sum(result.manifest["rejected"].values())
    if as_json:
        typer.echo(json.dumps({"out": storage.display(result.out_dir), "records": total,
                               "shards": len(result.manifest["shards"]), "rejected": rejected,
                               "resumed": result.resumed, "mixture": mixture, "counts": list(rows.values())},
                              ensure_ascii=False, indent=2))
        return
    _table(list(rows.values()), ["output", "dataset/task", "lang", "examples", "written", "excluded", "sampled_out",
                                 "deduplicated", "decontaminated", "rejected"], title="curate build")
    if any(result.resumed.values()):
        typer.echo(f"resumed {result.resumed['phase1']} conversion and {result.resumed['phase2']} render units "
                   "from an earlier run (same inputs, catalog, templates and seed)", err=True)
    typer.echo(f"wrote {total:,} records in {len(result.manifest['shards'])} shards to "
               f"{storage.display(result.out_dir)} ({rejected:,} source records rejected: see "
               f"{storage.display(result.out_dir / 'rejects')})")


@app.command()
def validate(
    catalog: CatalogOpt = Path("catalog.yaml"),
    dataset: Annotated[list[str] | None, typer.Option("--dataset", "-d", help="only these datasets",
                                                      autocompletion=complete_dataset)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Read every dataset and count documents, annotations, examples and rejects; write nothing.

    --json gives, per dataset and split, also examples per task, the top reject reasons with an example
    line each, and why a split or task makes no examples."""
    from curate.catalog import load_catalog
    from curate.validate import validate_catalog

    try:
        cat = load_catalog(catalog)
        _choices(dataset, [e.name for e in cat.datasets], "--dataset", "dataset")
        rows, notices = validate_catalog(cat, dataset)
    except CurateError as exc:
        _fail(exc)
        return
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    _print_notices(notices)
    _table(rows, ["dataset", "split", "documents", "entities", "relations", "events", "examples", "rejected"])
    for row in rows:
        where = f"{row['dataset']}/{row['split']}"
        for task, why in row.get("no_examples", {}).items():
            secho(f"{where}: no {task} examples: {why}", fg=typer.colors.YELLOW)
        for reason in row.get("reject_reasons", [])[:3]:
            example = reason["example"]
            line = f":{example['line']}" if example["line"] else ""
            typer.echo(f"{where}: {reason['count']} {reason['action']} ({reason['field']}): {example['reason']} "
                       f"[{example['file']}{line} {example['record_id']}]")


@catalog_app.command("list")
def catalog_list(
    catalog: CatalogOpt = Path("catalog.yaml"),
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="only entries with this tag")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the catalog's datasets."""
    from curate.catalog import load_catalog

    try:
        cat = load_catalog(catalog)
    except CurateError as exc:
        _fail(exc)
        return
    rows = []
    for entry in cat.datasets:
        if tag and not set(tag) <= set(entry.tags):
            continue
        rows.append({"name": entry.name, "language": entry.language, "tasks": entry.tasks, "format": entry.format,
                     "native_format": entry.native_format, "license": entry.license, "homepage": entry.homepage,
                     "tags": entry.tags, "sizes": entry.sizes, "available": cat.available(entry),
                     "splits": sorted(entry.files)})
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    _table([{**r, "tasks": ",".join(r["tasks"]), "tags": ",".join(r["tags"]), "available": "yes" if r["available"]
             else "no"} for r in rows], ["name", "language", "tasks", "format", "available", "license", "tags"],
           title=f"{len(rows)} datasets")


@templates_app.command("lint")
def templates_lint(
    catalog: CatalogOpt = Path("catalog.yaml"),
    directory: Annotated[Path | None, typer.Option("--dir", help="template directory (default: the catalog's)")] = None,
) -> None:
    """Check every template: syntax, known fields, unique ids, en and zh, sandboxed strict rendering."""
    from curate.templates import lint

    try:
        rows = lint(directory or _templates_dir(catalog))
    except CurateError as exc:
        _fail(exc)
        return
    typer.echo(f"{len(rows)} templates OK ({len({r['task'] for r in rows})} tasks, en and zh)")


@templates_app.command("list")
def templates_list(
    catalog: CatalogOpt = Path("catalog.yaml"),
    directory: Annotated[Path | None, typer.Option("--dir", help="template directory")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List templates with task, language and id."""
    from curate.templates import LANGS, lint

    try:
        rows = lint(directory or _templates_dir(catalog))
    except CurateError as exc:
        _fail(exc)
        return
    flat = [{"id": r["id"], "task": r["task"], "language": lang, "subtasks": r["subtasks"],
             "answer_format": r["answer_format"], "lists_labels": r["lists_labels"], "position": r["position"]}
            for r in rows for lang in LANGS]
    if as_json:
        typer.echo(json.dumps(flat, ensure_ascii=False, indent=2))
        return
    _table([{**r, "subtasks": ",".join(r["subtasks"]) or "all"} for r in flat],
           ["task", "language", "id", "subtasks", "answer_format", "lists_labels", "position"])


@templates_app.command("preview")
def templates_preview(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="dataset name from the catalog",
                                         autocompletion=complete_dataset)],
    catalog: CatalogOpt = Path("catalog.yaml"),
    n: Annotated[int, typer.Option("-n", min=1, help="how many examples")] = 3,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Print rendered examples of one dataset for a person to read."""
    from curate.catalog import load_catalog
    from curate.preview import preview

    try:
        _choices([dataset], [e.name for e in load_catalog(catalog, check_files=False).datasets], "--dataset",
                 "dataset")
        records = preview(catalog, dataset, n, seed)
    except CurateError as exc:
        _fail(exc)
        return
    for record in records:
        secho(f"── {record['dataset']} · {record['task']}/{record['subtask']} · {record['template_id']} "
                    f"· {record['prompt_lang']}", bold=True)
        for message in record["messages"]:
            secho(f"[{message['role']}]", fg=typer.colors.CYAN)
            typer.echo(message["content"])
        typer.echo()


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


@app.command("eval")
def eval_command(
    predictions: Annotated[Path, typer.Option("--predictions", "-p", help="JSON lines {id, prediction}")],
    build_dir: Annotated[Path, typer.Option("--build", "-b", help="the build directory the ids come from")] = Path(
        "out"),
    split: Annotated[list[str] | None, typer.Option("--split", help="only eval records of these splits")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Parse predictions with each record's answer format and score them as Taiyi did (see docs/evaluation.md)."""
    from curate.evaluate import evaluate

    try:
        report = evaluate(predictions, build_dir, split)
    except CurateError as exc:
        _fail(exc)
        return
    if as_json:
        typer.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
        return
    _table([{**r, "P": _pct(r["precision"]), "R": _pct(r["recall"]), "F1 / acc": _pct(r["score"])}
            for r in report.rows],
           ["dataset", "task", "subtask", "metric", "P", "R", "F1 / acc", "n", "missing", "unparsed"],
           title="curate eval: per dataset")
    generated = [r for r in report.rows if r.get("bleu") is not None]
    if generated:
        _table([{**r, **{k: _pct(r[k]) for k in ("bleu", "chrf", "rouge1", "rouge2", "rougeL")}} for r in generated],
               ["dataset", "task", "subtask", "n", "bleu", "chrf", "rouge1", "rouge2", "rougeL"],
               title="curate eval: generated text (corpus BLEU, chrF; mean ROUGE F)")
    if report.taiyi:
        _table([{**r, "ours": _pct(r["ours"]), "taiyi": _pct(r["taiyi"]), "chatgpt": _pct(r["chatgpt"])}
                for r in report.taiyi], ["test_set", "dataset", "metric", "n", "missing", "ours", "taiyi", "chatgpt"],
               title="Taiyi test sets (paper numbers: taiyi.md §4.2)")
    notes = [f"{report.predictions:,} predictions read", f"{report.missing:,} records without a prediction "
             "(scored as wrong)"]
    if report.unknown_ids:
        notes.append(f"{len(report.unknown_ids):,} prediction ids not in the build (ignored)")
    if report.unreadable_lines:
        notes.append(f"{len(report.unreadable_lines):,} unreadable lines (first: {report.unreadable_lines[0]})")
    if report.duplicate_ids:
        notes.append(f"{len(report.duplicate_ids):,} duplicate ids (the last one scored)")
    typer.echo("; ".join(notes))


class ExportFormat(StrEnum):
    """`curate export --format`: Firefly/Taiyi JSONL, LLaMA-Factory sharegpt (`llamafactory`) or alpaca."""

    firefly = "firefly"
    llamafactory = "llamafactory"
    llamafactory_alpaca = "llamafactory-alpaca"


@app.command()
def export(
    build: Annotated[Path, typer.Option("--build", "-b", help="a curate build directory")] = Path("out"),
    stage: Annotated[str, typer.Option("--stage", "-s", help="which output (a stage, or eval)")] = "stage2",
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="firefly: Taiyi/Firefly JSONL; llamafactory: "
                                              "sharegpt; llamafactory-alpaca: alpaca")] = ExportFormat.llamafactory,
    out: Annotated[Path, typer.Option("--out", "-o", help="where to write")] = Path("export"),
    split: Annotated[str, typer.Option("--split")] = "train",
) -> None:
    """Export a build's records for other trainers (Firefly/Taiyi JSONL, LLaMA-Factory sharegpt or alpaca)."""
    from curate.export import export_build, stage_manifest

    try:
        from curate import storage

        manifest_path = build / "manifest.json"  # build may be a URI (curate/storage.py)
        if storage.exists(manifest_path):
            outputs = sorted(json.loads(storage.read_text(manifest_path))["outputs"])
            _choices([stage], outputs, "--stage", "output")
        stage_manifest(build, stage)
        _check_writable(out, "--out")
        summary = export_build(build, stage, fmt.value, out, split)
    except CurateError as exc:
        _fail(exc)
        return
    typer.echo(f"wrote {summary['rows']:,} {fmt.value} records to {summary['path']}")


def _check_writable(folder: Path, option: str) -> None:
    """Fail with the option's name before any work when ``folder`` cannot be created or written (a URI:
    when its scheme cannot be written, or a probe object cannot be put there)."""
    import tempfile

    from curate import storage

    if storage.is_remote(folder):
        storage.check_uri(str(folder), option, write=True)
        try:
            storage.write_bytes(folder / ".curate-probe", b"")
            storage.remove(folder / ".curate-probe")
        except CurateError as exc:
            raise CurateError(f"{option} {storage.display(folder)}: cannot write there: {exc}") from None
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".curate-probe-"):
            pass
    except OSError as exc:
        raise CurateError(f"{option} {folder}: cannot write there ({exc.strerror or exc}); choose a folder you "
                          "can write to") from None


# --- curate fetch (logic in curate/fetch.py) ---


@app.command("fetch")
def fetch_command(
    catalog: CatalogOpt = Path("catalog.yaml"),
    dataset: Annotated[list[str] | None, typer.Option("--dataset", "-d", help="only these datasets")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="only datasets with this tag")] = None,
    cache: Annotated[Path | None, typer.Option("--cache", help="download cache (default: CURATE_CACHE, else the "
                                                                "user cache dir /curate/fetch)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list what would be fetched and its size")] = False,
    offline: Annotated[bool, typer.Option("--offline", help="use only the cache; list what is missing")] = False,
    accept_license: Annotated[list[str] | None, typer.Option(
        "--accept-license", help="fetch this agreement-gated dataset (name) from --from")] = None,
    licensed_from: Annotated[Path | None, typer.Option(
        "--from", help="folder holding the files of agreement-gated datasets, downloaded after approval")] = None,
    mirror: Annotated[list[str] | None, typer.Option(
        "--mirror", help="PREFIX=TARGET: fetch URLs starting with PREFIX from TARGET (a URL or a folder)")] = None,
    max_unpacked: Annotated[int, typer.Option("--max-unpacked", min=1, help="bytes an archive may unpack to")] = (
        32 << 30),
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Download the catalog's corpora from their sources, verify them, and link them where `files:` expect them."""
    from curate.catalog import load_catalog
    from curate.fetch import FetchOptions, fetch, parse_mirrors

    try:
        options = FetchOptions(datasets=dataset, tags=tag, cache=cache, dry_run=dry_run, offline=offline,
                               accept_licenses=accept_license or [], licensed_from=licensed_from,
                               mirrors=parse_mirrors(mirror or [], "--mirror"), max_unpacked=max_unpacked,
                               progress=progress and not as_json)
        result = fetch(load_catalog(catalog, check_files=False), options)
    except CurateError as exc:
        _fail(exc)
        return
    if as_json:
        typer.echo(json.dumps({"files": result.rows, "errors": [str(e) for e in result.errors],
                               "downloaded_bytes": result.downloaded}, ensure_ascii=False, indent=2))
    else:
        _table([{**r, "bytes": "?" if r["bytes"] is None else r["bytes"]} for r in result.rows],
               ["dataset", "local", "state", "bytes", "from"], title="curate fetch")
        total = sum(r["bytes"] or 0 for r in result.rows)
        unknown = sum(r["bytes"] is None for r in result.rows)
        typer.echo(f"{len(result.rows)} files, {total:,} bytes listed" + (f" ({unknown} of unknown size)"
                   if unknown else "") + f"; {result.downloaded:,} bytes downloaded")
    for error in result.errors:
        secho(f"error: {error}", fg=typer.colors.RED, err=True)
    if result.errors:
        raise typer.Exit(EXIT_ERROR)


def _print_notices(notices: list[str]) -> None:
    """Skipped datasets: catalogued-only entries in one line, anything else one line each."""
    listed = [n for n in notices if "catalogued only" in n]
    for notice in notices:
        if notice not in listed:
            secho(f"notice: {notice}", fg=typer.colors.YELLOW, err=True)
    if listed:
        names = ", ".join(n.split(":", 1)[0] for n in listed[:5])
        more = f" and {len(listed) - 5} more" if len(listed) > 5 else ""
        secho(f"notice: {len(listed)} catalogued datasets have no files and were skipped ({names}{more}); "
                    "add `files:` to build them", fg=typer.colors.YELLOW, err=True)


def _templates_dir(catalog: Path) -> Path:
    from curate.catalog import load_catalog

    return load_catalog(catalog, check_files=False).templates_dir


def main() -> None:
    try:
        app()
    except CurateError as exc:
        secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(EXIT_ERROR)


if __name__ == "__main__":
    main()
