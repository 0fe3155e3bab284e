"""Free-answer questions in XML (TREC LiveQA medical): one element per question, answers below it.

With ``output: summary`` the same file gives question summarization pairs instead (LiveQA's
``NLM-Summary``): the question is the input, the summary the output.

Which elements hold the question, its parts and its answers are ElementTree paths in the options, so a
question file of another layout (or a tag that changes midway, like LiveQA's ``RefAnswer`` and
``ReferenceAnswer``) is YAML only. White space inside texts (hard wraps, tab indentation) is collapsed.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from curate.readers.base import ReadContext, Reader, read_xml
from schemas.documents import QADocument, TextToTextDocument


class XMLQAOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question_element: str = Field(".//NLM-QUESTION", description="ElementTree path of the question elements")
    id_attribute: str = Field("qid", description="attribute of a question element holding its id")
    question_paths: list[str] = Field(
        default_factory=lambda: ["Original-Question/SUBJECT", "Original-Question/MESSAGE"],
        description="paths (below a question) of the question's parts, joined by `joiner`; empty parts skipped")
    answer_paths: list[str] = Field(
        default_factory=lambda: ["ReferenceAnswers/ReferenceAnswer/ANSWER", "ReferenceAnswers/RefAnswer/ANSWER"],
        description="paths of the answer texts, all of them taken in document order of each path")
    context_paths: list[str] = Field(default_factory=list, description="paths of a context text, if any")
    joiner: str = Field("\n", description="what joins several question or context parts")
    output: Literal["qa", "summary"] = Field(
        "qa", description="qa: question and answers; summary: question (input) and its summary (output)")
    summary_paths: list[str] = Field(default_factory=lambda: ["NLM-Summary"],
                                     description="paths of the summary text, for output: summary")


class XMLQAReader(Reader):
    name = "xml_qa"
    Options = XMLQAOptions
    description = "Questions with free-text answers in XML (TREC LiveQA medical), element paths configurable"

    def read(self, path: str, ctx: ReadContext) -> Iterator[QADocument | TextToTextDocument]:
        opts: XMLQAOptions = self.options  # type: ignore[assignment]
        root = read_xml(path, ctx)
        if root is None:
            return
        questions = root.findall(opts.question_element)
        if not questions:
            ctx.reject(f"no question element at {opts.question_element!r}: set `question_element`", field="(xml)")
        for number, element in enumerate(questions):
            record_id = element.get(opts.id_attribute) or ctx.position_id(f"#{number}")
            question = _texts(element, opts.question_paths, opts.joiner)
            answers = [a for answer_path in opts.answer_paths for a in _all_texts(element, answer_path)]
            if not question:
                ctx.reject(f"no question text at {opts.question_paths}", record_id=record_id, field="question")
                continue
            if opts.output == "summary":
                summary = _texts(element, opts.summary_paths, opts.joiner)
                if not summary:
                    ctx.reject(f"no summary text at {opts.summary_paths}", record_id=record_id, field="summary")
                    continue
                summary_doc = ctx.make(TextToTextDocument, record_id=record_id, id=ctx.unique_id(record_id),
                                       document_id=record_id, split=ctx.split, subtask="summary", input=question,
                                       output=summary)
                if summary_doc is not None:
                    yield summary_doc
                continue
            if not answers:
                ctx.reject(f"no answer text at {opts.answer_paths}", record_id=record_id, field="answer")
                continue
            ctx.count("answers", len(answers))
            doc = ctx.make(QADocument, record_id=record_id, id=ctx.unique_id(record_id), document_id=record_id,
                           split=ctx.split, qa_type="free", question=question,
                           context=_texts(element, opts.context_paths, opts.joiner), answer=answers)
            if doc is not None:
                yield doc


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


def _all_texts(element: ET.Element, path: str) -> list[str]:
    return [t for t in (_clean("".join(found.itertext())) for found in element.findall(path)) if t]


def _texts(element: ET.Element, paths: list[str], joiner: str) -> str:
    return joiner.join(t for path in paths for t in _all_texts(element, path))
