"""Text pairs: semantic similarity and entailment between two texts, answered with one label."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from curate.catalog import DatasetEntry
from curate.tasks.base import AnswerFormat, Example, Gold, LabelView, Task
from curate.tasks.classification import LabelList
from schemas.documents import TextPairDocument


class TPFields(BaseModel):
    """What a text-pair template may use."""

    text_1: str
    text_2: str
    label_options: list[str]
    entailment: bool


class PairLabel(AnswerFormat):
    """The label name alone."""

    name = "pair_label"

    def render(self, gold: Gold, fields: dict[str, Any], labels: LabelView, lang: str) -> str:
        return labels.show(gold)

    def parse(self, text: str, fields: dict[str, Any], labels: LabelView, lang: str) -> Gold:
        found = [g for g in LabelList().parse(text, fields, labels, lang) if not g.startswith("?")]
        return found[0] if len(found) == 1 else None


class TextPairTask(Task):
    name = "tp"
    document_kind = "tp"
    PromptFields = TPFields
    formats = {f.name: f for f in (PairLabel(),)}
    default_format = "pair_label"
    metric = "accuracy"

    def examples(self, doc: TextPairDocument, entry: DatasetEntry, source_file: str) -> Iterator[Example]:
        options = entry.label_inventory("class") or [doc.label]
        yield self.new_example(doc, entry, source_file, doc.subtask, "all",
                               {"text_1": doc.text_1, "text_2": doc.text_2, "options": options,
                                "entailment": doc.subtask == "te"}, doc.label, f"{doc.text_1}\n{doc.text_2}")

    def prompt_fields(self, example: Example, entry: DatasetEntry, lang: str) -> TPFields:
        return TPFields(text_1=example.fields["text_1"], text_2=example.fields["text_2"],
                        label_options=self.labels(example, entry, lang).shown,
                        entailment=example.fields["entailment"])
