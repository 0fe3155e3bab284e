"""Text to text: summaries, titles, reports (IMCS-V2-MRG), and other rewrites of an input text.

The gold answer is the output text; a structured report keeps its ``section：content`` lines, so
the section names are shown to the template.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from pydantic import BaseModel

from curate.catalog import DatasetEntry
from curate.tasks.base import AnswerFormat, Example, Gold, Task, normalize_answer
from curate.tasks.qa import FreeText
from schemas.documents import TextToTextDocument


class T2TFields(BaseModel):
    """What a text-to-text template may use."""

    text: str
    kind: str
    section_names: list[str]


class TextToTextTask(Task):
    name = "t2t"
    subtasks = ("summary", "title", "report", "other")
    document_kind = "t2t"
    PromptFields = T2TFields
    formats: ClassVar[dict[str, AnswerFormat]] = {f.name: f for f in (FreeText(),)}
    default_format = "free_text"
    metric = "token_f1"

    def examples(self, doc: TextToTextDocument, entry: DatasetEntry, source_file: str) -> Iterator[Example]:
        if doc.input.strip() and doc.output.strip():
            yield self.new_example(doc, entry, source_file, doc.subtask, "all",
                                   {"text": doc.input, "sections": list(doc.output_sections), "options": []},
                                   doc.output, doc.input)

    def prompt_fields(self, example: Example, entry: DatasetEntry, lang: str) -> T2TFields:
        return T2TFields(text=example.fields["text"], kind=example.subtask,
                         section_names=example.fields["sections"])

    def score_items(self, value: Gold, fields: dict[str, Any]) -> set[Any]:
        return {normalize_answer(value or "")}
