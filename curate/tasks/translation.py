"""Translation between English and Chinese: one example per direction of a parallel pair.

The prompt is in the source text's language by default (as in Taiyi); the gold answer is the
target text.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from pydantic import BaseModel

from curate.catalog import DatasetEntry
from curate.tasks.base import AnswerFormat, Example, Gold, Task, normalize_answer
from curate.tasks.qa import FreeText
from schemas.documents import TranslationDocument

LANGUAGE_NAMES = {"en": {"en": "English", "zh": "英文"}, "zh": {"en": "Chinese", "zh": "中文"}}


class MTFields(BaseModel):
    """What a translation template may use; language names are in the prompt's language."""

    text: str
    source_language: str
    target_language: str


class TranslationTask(Task):
    name = "mt"
    subtasks = ("en2zh", "zh2en")
    document_kind = "mt"
    PromptFields = MTFields
    formats: ClassVar[dict[str, AnswerFormat]] = {f.name: f for f in (FreeText(),)}
    default_format = "free_text"
    metric = "token_f1"

    def examples(self, doc: TranslationDocument, entry: DatasetEntry, source_file: str) -> Iterator[Example]:
        for source, target in (("en", "zh"), ("zh", "en")):
            if doc.texts.get(source, "").strip() and doc.texts.get(target, "").strip():
                yield self.new_example(doc, entry, source_file, f"{source}2{target}", source,
                                       {"text": doc.texts[source], "source": source, "target": target,
                                        "options": []}, doc.texts[target], doc.texts[source])

    def prompt_language(self, example: Example) -> str:
        return example.fields["source"]  # the instruction is in the source text's language, as in Taiyi

    def prompt_fields(self, example: Example, entry: DatasetEntry, lang: str) -> MTFields:
        fields = example.fields
        return MTFields(text=fields["text"], source_language=LANGUAGE_NAMES[fields["source"]][lang],
                        target_language=LANGUAGE_NAMES[fields["target"]][lang])

    def score_items(self, value: Gold, fields: dict[str, Any]) -> set[Any]:
        return {normalize_answer(value or "")}
