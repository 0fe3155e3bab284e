"""Question-answering sets with their own layouts: PubMedQA JSON, BioASQ JSON and MEDIQA 2019 XML.

MedQA-style JSON lines need no module of their own: the ``tabular`` reader maps question, options and
``answer_idx`` (see docs/adding-a-dataset.md). Each reader here yields one document per question or pair.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from curate.readers.base import ReadContext, Reader, path_exists, read_text, read_xml
from schemas.documents import QADocument, TextPairDocument


def _load_json(path: str, ctx: ReadContext, encoding: str) -> Any:
    text = read_text(path, ctx, encoding)
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        ctx.reject(f"invalid JSON ({exc.msg}); the file is truncated or malformed", line=exc.lineno, field="(json)")
        return None
    except RecursionError:
        ctx.reject("JSON nested too deeply to read", field="(json)")
        return None


class PubMedQAOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    encoding: str = "utf-8"
    ground_truth_file: str | None = Field(
        None, description="file next to the data file mapping PMID -> yes/no/maybe (the official test split)")
    ground_truth_split: str = Field(
        "test", description="with ground_truth_file: this split reads the questions listed in the ground truth "
        "(answers from it); every other split reads the remaining questions, so one data file serves both")
    context_section_labels: bool = Field(False, description="prefix each context paragraph with its LABELS entry")


class PubMedQAReader(Reader):
    name = "pubmedqa"
    Options = PubMedQAOptions
    description = "PubMedQA JSON keyed by PMID (QUESTION, CONTEXTS, final_decision, LONG_ANSWER)"

    def read(self, path: str, ctx: ReadContext) -> Iterator[QADocument]:
        opts: PubMedQAOptions = self.options  # type: ignore[assignment]
        data = _load_json(path, ctx, opts.encoding)
        if data is None:
            return
        if not isinstance(data, dict):
            ctx.reject("expected a JSON object keyed by PMID", field="(json)")
            return
        truth: dict[str, str] | None = None
        if opts.ground_truth_file:
            truth_path = path.rpartition("/")[0] + "/" + opts.ground_truth_file if "/" in path else \
                opts.ground_truth_file
            if not path_exists(truth_path):
                ctx.reject(f"ground_truth_file {opts.ground_truth_file} not found next to the data", field="(file)")
                return
            loaded = _load_json(truth_path, ctx, opts.encoding)
            if not isinstance(loaded, dict):
                return
            truth = {str(k): str(v) for k, v in loaded.items()}
        for pmid, record in data.items():
            if truth is not None and (pmid in truth) != (ctx.split == opts.ground_truth_split):
                continue
            if not isinstance(record, dict) or not isinstance(record.get("QUESTION"), str):
                ctx.reject("record has no string QUESTION", record_id=pmid, field="QUESTION")
                continue
            answer = truth.get(pmid) if truth is not None and pmid in truth else record.get("final_decision")
            if not answer:
                ctx.reject("record has no final_decision (and no ground truth)", record_id=pmid, field="final_decision")
                continue
            contexts = [str(c) for c in record.get("CONTEXTS") or []]
            labels = record.get("LABELS") or []
            if opts.context_section_labels and len(labels) == len(contexts):
                contexts = [f"{label}: {c}" for label, c in zip(labels, contexts, strict=True)]
            doc = ctx.make(QADocument, record_id=pmid, id=ctx.unique_id(pmid), document_id=pmid, split=ctx.split,
                           qa_type="yesno", question=record["QUESTION"], context="\n".join(contexts),
                           answer=[str(answer)], long_answer=str(record.get("LONG_ANSWER") or ""))
            if doc is not None:
                yield doc


class BioASQOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    encoding: str = "utf-8"
    types: list[Literal["yesno", "factoid", "list", "summary"]] = Field(
        default_factory=lambda: ["yesno", "factoid", "list", "summary"], description="question types to read")
    synonyms: Literal["first", "all"] = Field("first", description="factoid/list answers: first synonym or all")


class BioASQReader(Reader):
    name = "bioasq"
    Options = BioASQOptions
    description = "BioASQ task B JSON (yesno, factoid, list, summary) with snippets as context"

    def read(self, path: str, ctx: ReadContext) -> Iterator[QADocument]:
        opts: BioASQOptions = self.options  # type: ignore[assignment]
        data = _load_json(path, ctx, opts.encoding)
        if data is None:
            return
        questions = data.get("questions") if isinstance(data, dict) else None
        if not isinstance(questions, list):
            ctx.reject("expected {\"questions\": [...]} (BioASQ task B golden file)", field="questions")
            return
        for index, q in enumerate(questions):
            qid = ctx.position_id(f"#{index}")
            qid = str(q.get("id", qid)) if isinstance(q, dict) else qid
            if not isinstance(q, dict) or not isinstance(q.get("body"), str):
                ctx.reject("question has no string body", record_id=qid, field="body")
                continue
            qtype = q.get("type")
            if qtype not in opts.types:
                if qtype not in ("yesno", "factoid", "list", "summary"):
                    ctx.reject(f"unknown question type {qtype!r}", record_id=qid, field="type")
                continue
            ideal = q.get("ideal_answer") or []
            ideal_text = ideal[0] if isinstance(ideal, list) and ideal else str(ideal or "")
            exact = q.get("exact_answer")
            if qtype == "yesno":
                qa_type, answer = "yesno", [str(exact).strip().lower()] if exact else []
            elif qtype == "summary":
                qa_type, answer = "free", [ideal_text] if ideal_text else []
            else:
                qa_type, answer = "free", self._exact(exact, opts.synonyms)
            if not answer:
                ctx.reject(f"{qtype} question without an answer", record_id=qid, field="exact_answer")
                continue
            context = "\n".join(str(s.get("text", "")) for s in q.get("snippets") or [] if isinstance(s, dict))
            doc = ctx.make(QADocument, record_id=qid, id=ctx.unique_id(qid), document_id=qid, split=ctx.split,
                           qa_type=qa_type, question=q["body"], context=context, answer=answer,
                           long_answer=ideal_text)
            if doc is not None:
                yield doc

    @staticmethod
    def _exact(exact: Any, synonyms: str) -> list[str]:
        if isinstance(exact, str):
            return [exact]
        out: list[str] = []
        for item in exact or []:
            if isinstance(item, list):
                out.extend(str(x) for x in (item if synonyms == "all" else item[:1]))
            else:
                out.append(str(item))
        return out


class MEDIQAOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_reference_score: int = Field(
        3, description="QA: answers with ReferenceScore >= this are the answers (4 excellent, 3 correct)")


class MEDIQAReader(Reader):
    name = "mediqa_xml"
    Options = MEDIQAOptions
    description = "MEDIQA 2019 XML: RQE <pair> (text pair, te) and QA <Question> with ranked answers"

    def read(self, path: str, ctx: ReadContext) -> Iterator[QADocument | TextPairDocument]:
        root = read_xml(path, ctx)
        if root is None:
            return
        pairs, questions = root.findall(".//pair"), root.findall(".//Question")
        if not pairs and not questions:
            ctx.reject("neither <pair> (RQE) nor <Question> (QA) elements found", field="(xml)")
        for pair in pairs:
            pid = pair.get("pid", "")
            chq, faq, value = pair.findtext("chq"), pair.findtext("faq"), (pair.get("value") or "").strip().lower()
            if not chq or not faq:
                ctx.reject("pair lacks <chq> or <faq> text", record_id=pid, field="chq/faq")
                continue
            if value not in ("true", "false"):
                ctx.reject(f"pair value {value!r} is not true/false", record_id=pid, field="value")
                continue
            if ctx.labels and value not in ctx.labels:
                ctx.reject(f"unknown label {value!r}", record_id=pid, field="value")
                continue
            doc = ctx.make(TextPairDocument, record_id=pid, id=ctx.unique_id(pid), document_id=pid, split=ctx.split,
                           subtask="te", text_1=chq.strip(), text_2=faq.strip(), label=value)
            if doc is not None:
                yield doc
        for question in questions:
            qid = question.get("QID", "")
            text = (question.findtext("QuestionText") or "").strip()
            scored: list[tuple[int, str]] = []
            for ans in question.findall(".//Answer"):
                try:
                    score, rank = int(ans.get("ReferenceScore", "0")), int(ans.get("ReferenceRank", "0"))
                except ValueError:
                    ctx.reject(f"answer {ans.get('AID')} has a non-integer ReferenceScore/ReferenceRank",
                               record_id=qid, field="ReferenceScore", action="dropped")
                    continue
                if score >= self.options.min_reference_score:  # type: ignore[attr-defined]
                    scored.append((rank, (ans.findtext("AnswerText") or "").strip()))
            answers = [t for _, t in sorted(scored) if t]
            if not text or not answers:
                ctx.reject("question without text or without an answer at min_reference_score", record_id=qid,
                           field="AnswerList")
                continue
            doc = ctx.make(QADocument, record_id=qid, id=ctx.unique_id(qid), document_id=qid, split=ctx.split,
                           qa_type="free", question=text, answer=answers)
            if doc is not None:
                yield doc
