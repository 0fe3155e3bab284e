"""Text classification, single- and multi-label: name the class(es) of a text.

The gold answer is the sorted list of raw labels (empty for a text with no label).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from curate.catalog import DatasetEntry
from curate.tasks.base import (
    AnswerFormat,
    Example,
    Gold,
    LabelView,
    Task,
    answer_lines,
    is_none_word,
    quote_item,
    split_items,
    split_quoted,
    unquoted_find,
)
from curate.tasks.qa import YesNo
from schemas.documents import ClassificationDocument


class TCFields(BaseModel):
    """What a text-classification template may use."""

    text: str
    label_options: list[str]
    multi_label: bool
    asked_label: str = Field("", description="yes/no asks (multi_label_as_yesno): the label asked about")


def _items(line: str, labels: LabelView) -> list[str]:
    """Label names of one line: split on ';', or on ',' / '、' when that is what makes them labels."""
    items = split_items(line)
    if all(labels.lookup(i) is not None for i in items):
        return items
    by_comma = split_quoted(line, ";；,，、")
    if sum(labels.lookup(i) is not None for i in by_comma) > sum(labels.lookup(i) is not None for i in items):
        return by_comma
    return items


class LabelList(AnswerFormat):
    """The label names joined by ``; `` (``；``); ``none``/``无`` for no label."""

    name = "label_list"

    def render(self, gold: Gold, fields: dict[str, Any], labels: LabelView, lang: str) -> str:
        sep, empty = ("; ", "none") if lang == "en" else ("；", "无")
        return sep.join(quote_item(labels.show(g), ";；") for g in gold) if gold else empty

    def parse(self, text: str, fields: dict[str, Any], labels: LabelView, lang: str) -> Gold:
        found: set[str] = set()
        for line in answer_lines(text):
            if labels.lookup(line) is None:
                cut = unquoted_find(line, ":：")
                if cut >= 0 and labels.lookup(line[:cut]) is None:
                    line = line[cut + 1:]  # a leading "Result:" / "上述文本被分类为："
            for item in _items(line, labels):
                raw = labels.lookup(item)
                if raw is not None:
                    found.add(raw)
                elif not is_none_word(item):
                    found.add(f"?{item}")  # an unknown label still counts as a wrong prediction
        return sorted(found)


class ClassificationTask(Task):
    name = "tc"
    subtasks = ("single_label", "multi_label", "label_yesno")
    document_kind = "tc"
    PromptFields = TCFields
    formats: ClassVar[dict[str, AnswerFormat]] = {f.name: f for f in (LabelList(), YesNo())}
    default_format = "label_list"

    def examples(self, doc: ClassificationDocument, entry: DatasetEntry,
                 source_file: str) -> Iterator[Example]:
        if not doc.labels and not doc.multi_label:
            return  # an unlabeled text (a hidden test split): single-label texts always have a label
        options = entry.label_inventory("class") or sorted(set(doc.labels))
        gold = sorted(set(doc.labels))
        subtask = "multi_label" if doc.multi_label else "single_label"
        yield self.new_example(doc, entry, source_file, subtask, "all",
                               {"text": doc.text, "options": options, "multi_label": doc.multi_label},
                               gold, doc.text)
        if doc.multi_label and entry.task_option("tc").multi_label_as_yesno:
            # task decomposition: one yes/no question per label, scored as micro-F1 over labels
            for label in options:
                yield self.new_example(doc, entry, source_file, "label_yesno", label,
                                       {"text": doc.text, "options": [label], "multi_label": True},
                                       "yes" if label in gold else "no", doc.text)

    def format_for(self, example: Example) -> str:
        return "yesno" if example.subtask == "label_yesno" else self.default_format

    def score_items(self, value: Gold, fields: dict[str, Any]) -> set[Any]:
        if isinstance(value, str):  # a yes/no ask counts its label when the answer is yes
            return {fields["options"][0]} if value == "yes" else set()
        return set(value or [])

    def prompt_fields(self, example: Example, entry: DatasetEntry, lang: str) -> TCFields:
        labels = self.labels(example, entry, lang)
        return TCFields(text=example.fields["text"], label_options=labels.shown,
                        multi_label=example.fields["multi_label"],
                        asked_label=labels.shown[0] if example.subtask == "label_yesno" else "")
