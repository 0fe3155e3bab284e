"""Question answering: yes/no/maybe, multiple choice (letters A, B, ...), and free answers.

Gold answers: ``"yes"|"no"|"maybe"`` for yes/no, the sorted list of option letters for multiple
choice, and the answer text for free questions.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from curate.catalog import DatasetEntry
from curate.tasks.base import AnswerFormat, Example, Gold, LabelView, Task, normalize_answer
from schemas.documents import QADocument

LETTERS = string.ascii_uppercase
YESNO_SHOWN = {"en": {"yes": "yes", "no": "no", "maybe": "maybe"}, "zh": {"yes": "是", "no": "否", "maybe": "不确定"}}
_YESNO_BACK = {normalize_answer(v): k for lang in YESNO_SHOWN.values() for k, v in lang.items()} | {
    "可能": "maybe", "也许": "maybe", "对": "yes", "不是": "no", "不": "no", "y": "yes", "n": "no"}


class QAFields(BaseModel):
    """What a QA template may use."""

    question: str
    context: str
    options: list[str]
    option_letters: list[str]
    qa_type: str


class YesNo(AnswerFormat):
    name = "yesno"

    def render(self, gold: Gold, fields: dict[str, Any], labels: LabelView, lang: str) -> str:
        return YESNO_SHOWN[lang][gold]

    def parse(self, text: str, fields: dict[str, Any], labels: LabelView, lang: str) -> Gold:
        cleaned = normalize_answer(text)
        if cleaned in _YESNO_BACK:
            return _YESNO_BACK[cleaned]
        # a leading sentence ("The answer is: yes") or a trailing explanation ("Yes, because ...")
        tail = normalize_answer(re.split(r"[:：]", text)[-1])
        if tail in _YESNO_BACK:
            return _YESNO_BACK[tail]
        head = re.split(r"[\s,，.。;；!！]", cleaned, maxsplit=1)[0]
        return _YESNO_BACK.get(head)


class OptionLetter(AnswerFormat):
    """``B. option text`` (one line per answer); parsed back from the letter or the option text."""

    name = "option_letter"

    def render(self, gold: Gold, fields: dict[str, Any], labels: LabelView, lang: str) -> str:
        options = fields["choices"]
        return "\n".join(f"{letter}. {options[LETTERS.index(letter)]}" for letter in gold)

    def parse(self, text: str, fields: dict[str, Any], labels: LabelView, lang: str) -> Gold:
        options = fields["choices"]
        letters = LETTERS[: len(options)]
        found: set[str] = set()
        by_text = {normalize_answer(o): LETTERS[i] for i, o in enumerate(options)}
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            match = re.match(rf"^\(?([{letters}])(?:[.．、:：)）]|\s|$)", line)
            if match:
                found.add(match.group(1))
                continue
            if normalize_answer(line) in by_text:
                found.add(by_text[normalize_answer(line)])
                continue
            inline = re.findall(rf"(?:answer is|答案是|答案为|选)\s*[:：]?\s*\(?([{letters}])\b", line, flags=re.I)
            found.update(inline)
        return sorted(found)


class FreeText(AnswerFormat):
    name = "free_text"

    def render(self, gold: Gold, fields: dict[str, Any], labels: LabelView, lang: str) -> str:
        return gold

    def parse(self, text: str, fields: dict[str, Any], labels: LabelView, lang: str) -> Gold:
        return text.strip()


class QATask(Task):
    name = "qa"
    document_kind = "qa"
    PromptFields = QAFields
    formats = {f.name: f for f in (YesNo(), OptionLetter(), FreeText())}
    default_format = "option_letter"
    metric = "accuracy"

    def examples(self, doc: QADocument, entry: DatasetEntry, source_file: str) -> Iterator[Example]:
        if doc.qa_type == "yesno":
            gold: Gold = doc.answer[0]
        elif doc.qa_type == "multiple_choice":
            if len(doc.choices) > len(LETTERS):
                return
            gold = sorted({LETTERS[doc.choices.index(a)] for a in doc.answer})
        else:
            gold = doc.answer[0]
        yield self.new_example(doc, entry, source_file, doc.qa_type, "all",
                               {"question": doc.question, "context": doc.context, "choices": doc.choices,
                                "qa_type": doc.qa_type}, gold, f"{doc.context}\n{doc.question}".strip())

    def format_for(self, example: Example) -> str:
        return {"yesno": "yesno", "multiple_choice": "option_letter"}.get(example.fields["qa_type"], "free_text")

    def prompt_fields(self, example: Example, entry: DatasetEntry, lang: str) -> QAFields:
        choices = example.fields["choices"]
        return QAFields(question=example.fields["question"], context=example.fields["context"], options=choices,
                        option_letters=list(LETTERS[: len(choices)]), qa_type=example.fields["qa_type"])
