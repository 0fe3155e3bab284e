"""``curate eval``: read a model's answers back with the task code that wrote the gold, and score them.

Records come from a build (``OUT/eval`` and, for ids that refer to them, the stage outputs); each
carries its answer format, gold and ``answer_fields``, so scoring needs no catalog and no source data.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.build_dir import (
    EVAL_OUTPUT,
    BuildDir,
)
from curate.errors import CurateError
from curate.tasks import get_task
from curate.tasks.base import Gold, LabelView, canonical_json, normalize_answer

TEXT_GENERATION_TASKS = frozenset({"mt", "t2t"})  # also scored with BLEU, chrF and ROUGE (text_metrics)


@dataclass(frozen=True)
class TaiyiSet:
    """One of the 13 test sets of the Taiyi paper (taiyi.md §4.2) and how our records map onto it."""

    name: str
    task: str
    datasets: tuple[str, ...]  # catalog names that hold this set (first = the shared catalog's)
    subtasks: tuple[str, ...]  # the record subtasks the paper's number corresponds to
    metric: str
    taiyi: float
    chatgpt: float
    item_type: str | None = None  # NER sets that split one corpus by entity type (BC5CDR-Chem / -Dise)


TAIYI_SETS: tuple[TaiyiSet, ...] = (
    TaiyiSet("BC5CDR-Chem", "ner", ("bc5cdr",), ("all_types",), "micro_f1", 80.2, 60.3, "Chemical"),
    TaiyiSet("BC5CDR-Dise", "ner", ("bc5cdr",), ("all_types",), "micro_f1", 69.1, 51.8, "Disease"),
    TaiyiSet("CHEMDNER", "ner", ("chemdner", "bc4chemd"), ("all_types",), "micro_f1", 79.9, 36.5),
    TaiyiSet("NCBI-disease", "ner", ("ncbi_disease",), ("all_types",), "micro_f1", 73.1, 50.5),
    TaiyiSet("CMeEE-dev", "ner", ("cmeee", "cmeee_v2"), ("all_types",), "micro_f1", 65.7, 47.0),
    TaiyiSet("BC5CDR (RE)", "re", ("bc5cdr",), ("all_types",), "micro_f1", 37.5, 14.2),
    TaiyiSet("CMeIE-dev", "re", ("cmeie", "cmeie_v2"), ("all_types",), "micro_f1", 43.2, 30.6),
    TaiyiSet("BC7LitCovid", "tc", ("bc7_litcovid", "litcovid"), ("single_label", "multi_label"), "micro_f1",
             84.0, 63.9),
    TaiyiSet("HoC", "tc", ("hoc",), ("single_label", "multi_label"), "micro_f1", 80.0, 51.2),
    TaiyiSet("KUAKE_QIC-dev", "tc", ("kuake_qic",), ("single_label", "multi_label"), "micro_f1", 77.4, 48.5),
    TaiyiSet("PubMedQA", "qa", ("pubmedqa", "pubmedqa_labeled"), ("yesno",), "accuracy", 54.4, 76.5),
    TaiyiSet("MedQA-USMLE", "qa", ("medqa_usmle", "medqa_us"), ("multiple_choice",), "accuracy", 37.1, 51.3),
    TaiyiSet("MedQA-MCMLE", "qa", ("medqa_mcmle", "medqa_zh", "medqa_cn"), ("multiple_choice",), "accuracy",
             64.8, 58.2),
)


@dataclass
class Score:
    """Counts of one group of records; micro-F1 from tp/fp/fn, accuracy and token F1 from sums."""

    metric: str
    n: int = 0
    missing: int = 0
    unparsed: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    correct: float = 0.0
    precision_sum: float = 0.0
    recall_sum: float = 0.0
    text_metrics: bool = False  # keep the texts for corpus BLEU/chrF and ROUGE
    references: list[str] = field(default_factory=list)
    hypotheses: list[str] = field(default_factory=list)

    def add_items(self, gold: set[Any], predicted: set[Any]) -> None:
        self.tp += len(gold & predicted)
        self.fp += len(predicted - gold)
        self.fn += len(gold - predicted)

    def result(self) -> dict[str, Any]:
        row: dict[str, Any] = {"metric": self.metric, "n": self.n, "missing": self.missing,
                               "unparsed": self.unparsed}
        if self.metric == "micro_f1":
            p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
            r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
            if not self.tp + self.fp + self.fn:  # nothing to find and nothing predicted: perfect
                p = r = 1.0
            f1 = 2 * p * r / (p + r) if p + r else 0.0
            row.update(precision=100 * p, recall=100 * r, score=100 * f1, tp=self.tp, fp=self.fp, fn=self.fn)
        elif self.metric == "token_f1":
            n = max(self.n, 1)
            row.update(precision=100 * self.precision_sum / n, recall=100 * self.recall_sum / n,
                       score=100 * self.correct / n)
        else:
            row.update(precision=None, recall=None, score=100 * self.correct / max(self.n, 1))
        if self.text_metrics:
            from curate.text_metrics import text_scores

            row.update(text_scores(self.references, self.hypotheses, text_tokens))
        return row


@dataclass
class EvalReport:
    rows: list[dict[str, Any]]
    taiyi: list[dict[str, Any]]
    predictions: int
    unknown_ids: list[str] = field(default_factory=list)
    unreadable_lines: list[int] = field(default_factory=list)
    duplicate_ids: list[str] = field(default_factory=list)
    missing: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"datasets": self.rows, "taiyi": self.taiyi, "predictions": self.predictions,
                "missing": self.missing, "unknown_ids": self.unknown_ids[:100],
                "unknown_id_count": len(self.unknown_ids), "unreadable_lines": self.unreadable_lines[:100],
                "duplicate_ids": self.duplicate_ids[:100]}


# --- reading ----------------------------------------------------------------------------------------------


def build_outputs(build_dir: Path) -> list[str]:
    """The outputs of a build: ``eval`` first, then the stages (from the top manifest, else the folders)."""
    return BuildDir(build_dir).outputs()


def read_records(build_dir: str | Path, wanted_ids: set[str] | None = None) -> dict[str, dict[str, Any]]:
    """Every eval record of the build, and the stage records whose ids are in ``wanted_ids``."""
    from curate import storage

    build = Path(build_dir)
    outputs = build_outputs(build)
    if EVAL_OUTPUT not in outputs and not outputs:
        raise CurateError(f"{build}: no build here (no manifest.json); pass --build DIR of a `curate build`")
    records: dict[str, dict[str, Any]] = {}
    build_dir = BuildDir(build)
    for output in outputs:
        for shard in build_dir.shards(output) if build_dir.has_output(output) else []:
            table = storage.read_parquet(shard)
            if output != EVAL_OUTPUT:
                if not wanted_ids:
                    break
                ids = table.column("id").to_pylist()
                keep = [i for i, rid in enumerate(ids) if rid in wanted_ids and rid not in records]
                if not keep:
                    continue
                table = table.take(keep)
            for row in table.to_pylist():
                row["output"] = output
                records.setdefault(row["id"], row)
    return records


def read_predictions(path: str | Path) -> tuple[dict[str, str], list[int], list[str]]:
    """``{"id", "prediction"}`` JSON lines → (id → text, unreadable line numbers, duplicate ids)."""
    file = Path(path)
    if not file.exists():
        raise CurateError(f"{file}: predictions file not found; `curate generate` writes one")
    predictions: dict[str, str] = {}
    unreadable: list[int] = []
    duplicates: list[str] = []
    with file.open("rb") as handle:  # line by line in bytes: a line that is not UTF-8 is one unreadable line
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                item = json.loads(raw.decode("utf-8"))
                rid, text = str(item["id"]), item.get("prediction")
            # RecursionError: JSON nested too deep to parse
            except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, RecursionError):
                unreadable.append(number)
                continue
            if rid in predictions:
                duplicates.append(rid)  # the last answer for an id is the one scored
            predictions[rid] = "" if text is None else str(text)
    return predictions, unreadable, duplicates


# --- parsing and scoring ----------------------------------------------------------------------------------


def parse_prediction(record: dict[str, Any], text: str) -> Gold:
    """A prediction read back into the gold structure by the record's task and answer format (None when
    nothing could be read)."""
    task = get_task(record["task"])
    if task is None or record["answer_format"] not in task.formats:
        return None
    fields = json.loads(record.get("answer_fields") or "{}")
    prompt = "\n".join(m["content"] for m in record["messages"] if m["role"] == "user")
    fields = {"options": [], "labels": [], **fields, "text": prompt}
    labels = LabelView(list(fields["options"]), list(fields["labels"]) or list(fields["options"]))
    try:
        return task.formats[record["answer_format"]].parse(text, fields, labels, record["prompt_lang"])
    except Exception:  # a parser must never take the evaluation down; what it cannot read counts as wrong
        return None


_TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\W_]+", re.UNICODE)


def text_tokens(text: str) -> list[str]:
    """Words for alphabetic scripts, single characters for Chinese (so both languages score alike)."""
    return _TOKEN.findall(normalize_answer(text))


def token_prf(gold: str, predicted: str) -> tuple[float, float, float]:
    from collections import Counter

    g, p = Counter(text_tokens(gold)), Counter(text_tokens(predicted))
    if not g and not p:
        return 1.0, 1.0, 1.0
    overlap = sum((g & p).values())
    if not overlap:
        return 0.0, 0.0, 0.0
    precision, recall = overlap / sum(p.values()), overlap / sum(g.values())
    return precision, recall, 2 * precision * recall / (precision + recall)


def same_answer(gold: Gold, predicted: Gold) -> bool:
    if isinstance(gold, str) and isinstance(predicted, str):
        return normalize_answer(gold) == normalize_answer(predicted)
    return canonical_json(gold) == canonical_json(predicted)


def score_record(score: Score, record: dict[str, Any], prediction: str | None,
                 item_filter: Any = None) -> None:
    """Add one record to ``score``; a missing prediction counts as an empty (wrong) answer."""
    task = get_task(record["task"])
    assert task is not None, record["task"]
    gold = json.loads(record["gold"])
    fields = json.loads(record.get("answer_fields") or "{}")
    score.n += 1
    if prediction is None:
        score.missing += 1
    parsed = parse_prediction(record, prediction) if prediction is not None else None
    if prediction is not None and parsed is None:
        score.unparsed += 1
    if score.metric == "micro_f1":
        gold_items = task.score_items(gold, fields)
        predicted = task.score_items(parsed, fields) if parsed is not None else set()
        if item_filter is not None:
            gold_items = {i for i in gold_items if item_filter(i)}
            predicted = {i for i in predicted if item_filter(i)}
        score.add_items(gold_items, predicted)
    elif score.metric == "token_f1":
        if score.text_metrics:
            score.references.append(str(gold))
            score.hypotheses.append(str(parsed) if parsed is not None else "")
        if parsed is not None:
            p, r, f = token_prf(str(gold), str(parsed))
            score.precision_sum += p
            score.recall_sum += r
            score.correct += f
    elif parsed is not None and same_answer(gold, parsed):
        score.correct += 1


def evaluate(predictions_path: str | Path, build_dir: str | Path = "out",
             splits: list[str] | None = None) -> EvalReport:
    """Score a predictions file against a build; see the module docstring. ``splits`` keeps only the eval
    records of those splits (``curate generate`` writes one split at a time)."""
    predictions, unreadable, duplicates = read_predictions(predictions_path)
    records = read_records(build_dir, set(predictions))
    if not records:
        raise CurateError(f"{build_dir}: the build has no eval records (no dataset has eval_splits) and no "
                          f"record matches a prediction id")
    unknown = sorted(set(predictions) - set(records))
    scored = [r for r in records.values() if r["output"] == EVAL_OUTPUT or r["id"] in predictions]
    if splits:
        scored = [r for r in scored if r["split"] in splits]
    groups: dict[tuple[str, str, str], Score] = {}
    for record in sorted(scored, key=lambda r: (r["dataset"], r["task"], r["subtask"], r["id"])):
        task = get_task(record["task"])
        if task is None:
            continue
        key = (record["dataset"], record["task"], record["subtask"])
        score = groups.setdefault(key, Score(task.metric_for(record["subtask"]),
                                             text_metrics=record["task"] in TEXT_GENERATION_TASKS))
        score_record(score, record, predictions.get(record["id"]))
    rows = [{"dataset": d, "task": t, "subtask": s, **score.result()}
            for (d, t, s), score in sorted(groups.items())]
    return EvalReport(rows=rows, taiyi=taiyi_table(scored, predictions), predictions=len(predictions),
                      unknown_ids=unknown, unreadable_lines=unreadable, duplicate_ids=duplicates,
                      missing=sum(r["missing"] for r in rows))


def taiyi_table(records: list[dict[str, Any]], predictions: dict[str, str]) -> list[dict[str, Any]]:
    """The paper's 13 test sets that the build holds, ours beside Taiyi's and ChatGPT's (taiyi.md §4.2)."""
    by_dataset: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_dataset[record["dataset"]].append(record)
    rows = []
    for spec in TAIYI_SETS:
        dataset = next((d for d in spec.datasets if d in by_dataset), None)
        if dataset is None:
            continue
        chosen = [r for r in by_dataset[dataset] if r["task"] == spec.task and r["subtask"] in spec.subtasks]
        if not chosen:
            continue
        score = Score(spec.metric)
        item_filter = (lambda item, t=spec.item_type: item[0] == t) if spec.item_type else None
        for record in chosen:
            score_record(score, record, predictions.get(record["id"]), item_filter)
        result = score.result()
        rows.append({"test_set": spec.name, "dataset": dataset, "metric": spec.metric, "n": result["n"],
                     "missing": result["missing"], "ours": result["score"], "taiyi": spec.taiyi,
                     "chatgpt": spec.chatgpt})
    if rows:
        rows.append({"test_set": f"Average ({len(rows)} of {len(TAIYI_SETS)} sets)", "dataset": "",
                     "metric": "", "n": sum(r["n"] for r in rows), "missing": sum(r["missing"] for r in rows),
                     "ours": sum(r["ours"] for r in rows) / len(rows),
                     "taiyi": sum(r["taiyi"] for r in rows) / len(rows),
                     "chatgpt": sum(r["chatgpt"] for r in rows) / len(rows)})
    return rows


def gold_predictions(build_dir: str | Path) -> list[dict[str, str]]:
    """The gold responses of a build's eval records as predictions (the last assistant turn of each)."""
    records = read_records(build_dir)
    return [{"id": rid, "prediction": [m for m in r["messages"] if m["role"] == "assistant"][-1]["content"]}
            for rid, r in sorted(records.items()) if r["output"] == EVAL_OUTPUT]
