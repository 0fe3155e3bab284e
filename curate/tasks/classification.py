"""Text classification, single- and multi-label: name the class(es) of a text.

The gold answer is the sorted list of raw labels (empty for a text with no label).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from curate.catalog import DatasetEntry
from curate.tasks.base import AnswerFormat, Example, Gold, LabelView, Task, is_none_word, split_items
from schemas.documents import ClassificationDocument


class TCFields(BaseModel):
    """What a text-classification template may use."""

    text: str
    label_options: list[str]
    multi_label: bool


class LabelList(AnswerFormat):
    """The label names joined by ``; `` (``；``); ``none``/``无`` for no label."""

    name = "label_list"

    def render(self, gold: Gold, fields: dict[str, Any], labels: LabelView, lang: str) -> str:
        sep, empty = ("; ", "none") if lang == "en" else ("；", "无")
        return sep.join(labels.show(g) for g in gold) if gold else empty

    def parse(self, text: str, fields: dict[str, Any], labels: LabelView, lang: str) -> Gold:
        found: set[str] = set()
        for line in text.splitlines():
            candidates = split_items(line)
            if len(candidates) == 1 and re.search(r"[:：]", line) and labels.lookup(line) is None:
                candidates = split_items(re.split(r"[:：]", line, maxsplit=1)[1])
            for item in candidates:
                raw = labels.lookup(item)
                if raw is not None:
                    found.add(raw)
                elif not is_none_word(item):
                    found.add(f"?{item}")  # an unknown label still counts as a wrong prediction
        return sorted(found)


class ClassificationTask(Task):
    name = "tc"
    document_kind = "tc"
    PromptFields = TCFields
    formats = {f.name: f for f in (LabelList(),)}
    default_format = "label_list"

    def examples(self, doc: ClassificationDocument, entry: DatasetEntry, source_file: str) -> Iterator[Example]:
        options = entry.label_inventory("class") or sorted(set(doc.labels))
        yield self.new_example(doc, entry, source_file, "multi_label" if doc.multi_label else "single_label", "all",
                               {"text": doc.text, "options": options, "multi_label": doc.multi_label},
                               sorted(set(doc.labels)), doc.text)

    def prompt_fields(self, example: Example, entry: DatasetEntry, lang: str) -> TCFields:
        return TCFields(text=example.fields["text"], label_options=self.labels(example, entry, lang).shown,
                        multi_label=example.fields["multi_label"])
