"""``curate eval``: hand-computed scores on small prediction files with known errors, the Taiyi table
mapping, the bookkeeping of missing/unknown/unreadable predictions, and gold answers scoring 100.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from roundtrip_util import ROOT, dataset_examples
from typer.testing import CliRunner

from curate.build.record import render_example
from curate.cli import app
from curate.evaluate import evaluate, gold_predictions, parse_prediction, token_prf
from curate.tasks.base import canonical_json
from schemas.instruction import RECORD_SCHEMA


def record(rid: str, dataset: str, task: str, subtask: str, fmt: str, gold: Any,
           answer_fields: dict[str, Any], prompt: str = "", lang: str = "en") -> dict[str, Any]:
    return {"id": rid, "dataset": dataset, "split": "test", "task": task, "subtask": subtask,
            "source_lang": lang, "prompt_lang": lang, "template_id": "t", "answer_format": fmt,
            "gold": canonical_json(gold),
            "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": "(gold)"}],
            "provenance": {"document_id": rid, "example_id": rid, "source_file": "f",
                           "catalog_entry_hash": "h"},
            "answer_fields": canonical_json(answer_fields)}


def write_build(root: Path, records: list[dict[str, Any]]) -> Path:
    (root / "eval").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(records, schema=RECORD_SCHEMA), root / "eval" / "test-00000.parquet")
    (root / "eval" / "manifest.json").write_text(json.dumps({"shards": [{"path": "test-00000.parquet"}]}))
    (root / "manifest.json").write_text(json.dumps({"outputs": {"eval": {}}}))
    return root


NER_FIELDS = {"options": ["Chemical", "Disease"], "labels": ["chemical", "disease"]}
RECORDS = [
    record("ner1", "bc5cdr", "ner", "all_types", "type_lines",
           [["Chemical", "aspirin"], ["Chemical", "warfarin"], ["Disease", "asthma"]], NER_FIELDS,
           "aspirin, warfarin and ibuprofen; asthma"),
    record("ner2", "bc5cdr", "ner", "all_types", "type_lines", [["Disease", "cancer"]], NER_FIELDS, "cancer"),
    record("re1", "bc5cdr", "re", "all_types", "relation_lines", [["CID", "aspirin", "asthma"]],
           {"options": ["CID"], "labels": ["chemical induces disease"]}, "aspirin asthma warfarin"),
    record("yn1", "pubmedqa", "qa", "yesno", "yesno", "yes", {"choices": [], "qa_type": "yesno"}),
    record("yn2", "pubmedqa", "qa", "yesno", "yesno", "maybe", {"choices": [], "qa_type": "yesno"}),
    record("mc1", "medqa_usmle", "qa", "multiple_choice", "option_letter", ["B"],
           {"choices": ["aspirin", "penicillin", "insulin"], "qa_type": "multiple_choice"}),
    record("mc2", "medqa_usmle", "qa", "multiple_choice", "option_letter", ["C"],
           {"choices": ["aspirin", "penicillin", "insulin"], "qa_type": "multiple_choice"}),
    record("mc3", "medqa_usmle", "qa", "multiple_choice", "option_letter", ["A"],
           {"choices": ["aspirin", "penicillin", "insulin"], "qa_type": "multiple_choice"}),
    record("tc1", "hoc", "tc", "multi_label", "label_list", ["a", "b"],
           {"options": ["a", "b", "c"], "labels": ["alpha", "beta", "gamma"], "multi_label": True}),
    record("mt1", "demo_parallel", "mt", "zh2en", "free_text", "the child recovered",
           {"source": "zh", "target": "en"}, lang="zh"),
]
PREDICTIONS = [
    {"id": "ner1", "prediction": "chemical: aspirin; ibuprofen\ndisease: asthma"},  # ner2 missing
    {"id": "re1", "prediction": "chemical induces disease: [aspirin, asthma]; [warfarin, asthma]"},
    {"id": "yn1", "prediction": "No."},
    {"id": "yn2", "prediction": "Maybe, the data are unclear."},
    {"id": "mc1", "prediction": "The answer is B."},
    {"id": "mc2", "prediction": "insulin"},
    {"id": "mc3", "prediction": "I do not know."},
    {"id": "tc1", "prediction": "Alpha; Gamma"},
    {"id": "mt1", "prediction": "The child recovered quickly."},
    {"id": "nope", "prediction": "an id the build does not have"},
]


@pytest.fixture()
def scored(tmp_path: Path):
    build = write_build(tmp_path / "build", RECORDS)
    preds = tmp_path / "predictions.jsonl"
    preds.write_text("".join(json.dumps(p) + "\n" for p in PREDICTIONS) + "not json\n", encoding="utf-8")
    return evaluate(preds, build)


def row(report, dataset: str, task: str) -> dict[str, Any]:
    return next(r for r in report.rows if r["dataset"] == dataset and r["task"] == task)


def test_ner_micro_f1_by_hand(scored) -> None:
    # ner1: TP aspirin, asthma; FP ibuprofen; FN warfarin. ner2 missing: FN cancer.
    ner = row(scored, "bc5cdr", "ner")
    assert (ner["tp"], ner["fp"], ner["fn"]) == (2, 1, 2)
    assert ner["precision"] == pytest.approx(100 * 2 / 3)
    assert ner["recall"] == pytest.approx(100 * 2 / 4)
    assert ner["score"] == pytest.approx(100 * 4 / 7)  # 2PR/(P+R) = (2/3)/(7/6)
    assert ner["missing"] == 1 and ner["n"] == 2


def test_re_tc_qa_and_token_f1_by_hand(scored) -> None:
    re_row = row(scored, "bc5cdr", "re")  # TP 1, FP 1 (warfarin), FN 0
    assert (re_row["precision"], re_row["recall"]) == (pytest.approx(50.0), pytest.approx(100.0))
    assert re_row["score"] == pytest.approx(100 * 2 / 3)
    tc = row(scored, "hoc", "tc")  # gold a, b; predicted a, c
    assert (tc["tp"], tc["fp"], tc["fn"]) == (1, 1, 1) and tc["score"] == pytest.approx(50.0)
    assert row(scored, "pubmedqa", "qa")["score"] == pytest.approx(50.0)  # no≠yes, maybe = maybe
    mc = row(scored, "medqa_usmle", "qa")  # letter right, option text right, unparseable
    assert mc["score"] == pytest.approx(100 * 2 / 3) and mc["unparsed"] == 1
    mt = row(scored, "demo_parallel", "mt")  # 3 of 4 predicted words match all 3 gold words
    assert (mt["precision"], mt["recall"], mt["score"]) == (pytest.approx(75.0), pytest.approx(100.0),
                                                            pytest.approx(100 * 6 / 7))


def test_bookkeeping(scored) -> None:
    assert scored.missing == 1
    assert scored.unknown_ids == ["nope"]
    assert scored.unreadable_lines == [len(PREDICTIONS) + 1]


def test_taiyi_table_splits_bc5cdr_ner_by_type(scored) -> None:
    table = {r["test_set"]: r for r in scored.taiyi}
    # Chemical: TP aspirin, FP ibuprofen, FN warfarin -> 50. Disease: TP asthma, FN cancer -> P 1, R 1/2.
    assert table["BC5CDR-Chem"]["ours"] == pytest.approx(50.0)
    assert table["BC5CDR-Dise"]["ours"] == pytest.approx(100 * 2 / 3)
    assert table["BC5CDR (RE)"]["ours"] == pytest.approx(100 * 2 / 3)
    assert table["HoC"]["ours"] == pytest.approx(50.0)
    assert table["PubMedQA"]["ours"] == pytest.approx(50.0)
    assert table["MedQA-USMLE"]["ours"] == pytest.approx(100 * 2 / 3)
    assert (table["BC5CDR-Chem"]["taiyi"], table["BC5CDR-Chem"]["chatgpt"]) == (80.2, 60.3)
    assert "NCBI-disease" not in table  # only the sets the build holds
    average = scored.taiyi[-1]
    assert average["test_set"].startswith("Average (6 of 13")
    assert average["taiyi"] == pytest.approx((80.2 + 69.1 + 37.5 + 80.0 + 54.4 + 37.1) / 6)


def test_eval_command_prints_tables_and_json(tmp_path: Path) -> None:
    build = write_build(tmp_path / "build", RECORDS)
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps(p) + "\n" for p in PREDICTIONS), encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", "--predictions", str(preds), "--build", str(build)])
    assert result.exit_code == 0, result.output
    assert "BC5CDR-Chem" in result.output and "57.1" in result.output
    result = CliRunner().invoke(app, ["eval", "--predictions", str(preds), "--build", str(build), "--json"])
    data = json.loads(result.output)
    assert data["missing"] == 1 and data["unknown_id_count"] == 1


def test_split_filter_keeps_only_those_records(tmp_path: Path) -> None:
    build = write_build(tmp_path / "build", [*RECORDS, {**RECORDS[0], "id": "dev1", "split": "dev"}])
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps(p) + "\n" for p in PREDICTIONS), encoding="utf-8")
    assert evaluate(preds, build).missing == 2  # ner2 and the dev record
    assert evaluate(preds, build, ["test"]).missing == 1


def test_translation_and_text_to_text_get_bleu_chrf_and_rouge(tmp_path: Path) -> None:
    fields = {"source": "en", "target": "zh"}
    records = [record("zh1", "demo_parallel", "mt", "en2zh", "free_text", "患者的病情在治疗后明显好转", fields,
                      lang="en"),
               record("zh2", "demo_parallel", "mt", "en2zh", "free_text", "医生建议继续服药两周", fields, lang="en"),
               record("t1", "demo_titles_en", "t2t", "title", "free_text", "aspirin lowers the risk of stroke",
                      {}),
               record("t2", "demo_titles_en", "t2t", "title", "free_text", "a trial of insulin in children", {})]
    build = write_build(tmp_path / "build", records)
    preds = tmp_path / "p.jsonl"

    def scores(predictions: dict[str, str]) -> dict[str, dict[str, Any]]:
        preds.write_text("".join(json.dumps({"id": k, "prediction": v}, ensure_ascii=False) + "\n"
                                 for k, v in predictions.items()), encoding="utf-8")
        return {r["task"]: r for r in evaluate(preds, build).rows}

    perfect = scores({"zh1": "患者的病情在治疗后明显好转", "zh2": "医生建议继续服药两周",
                      "t1": "aspirin lowers the risk of stroke", "t2": "a trial of insulin in children"})
    for task in ("mt", "t2t"):
        assert [perfect[task][k] for k in ("bleu", "chrf", "rouge1", "rouge2", "rougeL")] == [
            pytest.approx(100.0)] * 5
    assert perfect["mt"]["bleu_tokenize"] == "zh" and perfect["t2t"]["bleu_tokenize"] == "13a"
    # one character changed in each Chinese sentence: whitespace tokens would make BLEU 0, characters do not
    close = scores({"zh1": "患者的病情在治疗后显著好转", "zh2": "医生建议继续服药三周", "t1": "aspirin lowers the risk",
                    "t2": "insulin"})  # ROUGE-L: t1 4 of 6 words in order (F 0.8), t2 1 of 6 (F 2/7)
    assert 20 < close["mt"]["bleu"] < 100 and 50 < close["mt"]["chrf"] < 100
    assert close["t2t"]["rougeL"] == pytest.approx(100 * (0.8 + 2 / 7) / 2)
    assert close["t2t"]["rouge1"] == pytest.approx(close["t2t"]["rougeL"])
    assert 0 < close["t2t"]["bleu"] < 100
    missing = scores({"zh1": "患者的病情在治疗后明显好转"})  # zh2 and the titles have no prediction
    assert missing["t2t"]["bleu"] == 0 and missing["t2t"]["rougeL"] == 0 and missing["t2t"]["missing"] == 2
    assert 0 < missing["mt"]["rougeL"] < 100
    result = CliRunner().invoke(app, ["eval", "--predictions", str(preds), "--build", str(build)])
    assert result.exit_code == 0 and "generated text" in result.output and "rougeL" in result.output


def test_token_f1_counts_chinese_by_character() -> None:
    assert token_prf("吸烟有害", "吸烟") == pytest.approx((1.0, 0.5, 2 / 3))


def test_every_demo_answer_parses_back_in_both_prompt_languages() -> None:
    """What eval does with a record (answer_fields, no catalog) on every demo example, prompts in the
    source language and in the other one (cross-lingual)."""
    from curate.catalog import load_catalog
    from curate.templates import load_templates

    catalog = load_catalog(ROOT / "catalog.yaml")
    library = load_templates(ROOT / "instruction_templates")
    checked = 0
    for entry in catalog.datasets:
        for example in dataset_examples(catalog, entry):
            for ratio in (0.0, 1.0):
                rec, reason = render_example(example, 0, catalog, library, seed=3, cross_lingual_ratio=ratio)
                assert rec is not None, reason
                if ratio == 1.0 and example.task != "mt":
                    assert rec["prompt_lang"] != rec["source_lang"]
                answer = rec["messages"][-1]["content"]
                parsed = parse_prediction(rec, answer)
                assert canonical_json(parsed) == rec["gold"], (rec["template_id"], answer)
                checked += 1
    assert checked > 500


def test_dialogue_messages_alternate_and_end_with_the_gold_doctor_turn() -> None:
    from curate.catalog import load_catalog
    from curate.templates import load_templates

    catalog = load_catalog(ROOT / "catalog.yaml")
    library = load_templates(ROOT / "instruction_templates")
    for example in dataset_examples(catalog, catalog.dataset("demo_consult_zh")):
        rec, _ = render_example(example, 0, catalog, library, seed=0)
        assert rec is not None
        roles = [m["role"] for m in rec["messages"]]
        assert roles == ["user", "assistant"] * (len(roles) // 2) and len(roles) >= 4
        assert json.loads(rec["gold"]) == rec["messages"][-1]["content"] == example.fields["turns"][-1][1]


def test_multi_label_as_yesno_asks_every_label() -> None:
    from curate.catalog import TaskOptions, load_catalog
    from curate.templates import load_templates

    catalog = load_catalog(ROOT / "catalog.yaml")
    entry = catalog.dataset("demo_topics_en")
    entry.task_options = {"tc": TaskOptions(multi_label_as_yesno=True)}
    examples = list(dataset_examples(catalog, entry))
    lists = [e for e in examples if e.subtask == "multi_label"]
    asks = [e for e in examples if e.subtask == "label_yesno"]
    assert lists and len(asks) == 4 * len(lists)
    for listing in lists:
        mine = {e.fields["options"][0]: e.gold for e in asks if e.document_id == listing.document_id}
        assert sorted(k for k, v in mine.items() if v == "yes") == listing.gold
    library = load_templates(ROOT / "instruction_templates")
    for ask in asks:
        rec, _ = render_example(ask, 0, catalog, library, seed=0, cross_lingual_ratio=0.5)
        assert rec is not None and rec["answer_format"] == "yesno" and rec["template_id"].startswith("tc-yn-")
        assert parse_prediction(rec, rec["messages"][-1]["content"]) == ask.gold


@pytest.mark.ray
def test_gold_answers_of_a_demo_build_score_100(demo_build: Any, tmp_path: Path) -> None:
    build = demo_build.out_dir
    preds = tmp_path / "gold.jsonl"
    preds.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in gold_predictions(build)),
                     encoding="utf-8")
    report = evaluate(preds, build)
    datasets = {r["dataset"] for r in report.rows}
    assert len(datasets) == 13 and report.missing == 0
    for r in report.rows:
        assert r["score"] == pytest.approx(100.0) and r["unparsed"] == 0, r
        if r["task"] in ("mt", "t2t"):
            assert (r["bleu"], r["chrf"], r["rougeL"]) == (pytest.approx(100.0),) * 3, r
    # one wrong answer per dataset makes its score drop below 100
    wrong = [{**p, "prediction": "none"} if i == 0 else p for i, p in enumerate(gold_predictions(build))]
    preds.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in wrong), encoding="utf-8")
    assert min(r["score"] for r in evaluate(preds, build).rows) < 100.0
