"""Named entity recognition: find the mentions of given entity types in a text.

A document with several types yields one all-types example and, with task decomposition on, one
example per type. The gold answer is the sorted set of ``[type, mention]`` pairs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from curate.catalog import DatasetEntry
from curate.tasks.base import AnswerFormat, Example, Gold, LabelView, Task, is_none_word, split_items
from schemas.documents import IEDocument


class NERFields(BaseModel):
    """What an NER template may use."""

    text: str
    entity_types: list[str]
    single_type: bool


def mention_pairs(doc: IEDocument, types: list[str]) -> list[list[str]]:
    pairs = {(e.type, e.mention) for e in doc.entities if e.type in types}
    return sorted([t, m] for t, m in pairs)


def in_text_order(mentions: list[str], text: str) -> list[str]:
    """Mentions ordered as a reader meets them, which is easier for a model to produce."""
    return sorted(mentions, key=lambda m: (text.find(m), m))


class TypeLines(AnswerFormat):
    """One line per asked type, ``Type: m1; m2`` (``类型：m1；m2`` in Chinese), ``none``/``无`` when empty."""

    name = "type_lines"

    def render(self, gold: Gold, fields: dict[str, Any], labels: LabelView, lang: str) -> str:
        colon, sep, empty = (": ", "; ", "none") if lang == "en" else ("：", "；", "无")
        lines = []
        for raw in fields["options"]:
            mentions = in_text_order([m for t, m in gold if t == raw], fields["text"])
            lines.append(f"{labels.show(raw)}{colon}{sep.join(mentions) if mentions else empty}")
        return "\n".join(lines)

    def parse(self, text: str, fields: dict[str, Any], labels: LabelView, lang: str) -> Gold:
        found: set[tuple[str, str]] = set()
        for line in text.splitlines():
            parts = re.split(r"[:：]", line, maxsplit=1)
            if len(parts) < 2:
                continue
            raw = labels.lookup(parts[0].strip().strip("-*• "))
            if raw is None:
                continue
            for mention in split_items(parts[1]):
                if not is_none_word(mention):
                    found.add((raw, mention))
        return sorted([t, m] for t, m in found)


class MentionList(AnswerFormat):
    """Single-type asks: the mentions alone, ``m1; m2`` (``m1；m2``), or ``none``/``无``."""

    name = "mention_list"

    def render(self, gold: Gold, fields: dict[str, Any], labels: LabelView, lang: str) -> str:
        sep, empty = ("; ", "none") if lang == "en" else ("；", "无")
        return sep.join(in_text_order([m for _, m in gold], fields["text"])) if gold else empty

    def parse(self, text: str, fields: dict[str, Any], labels: LabelView, lang: str) -> Gold:
        raw = fields["options"][0]
        body = text.strip()
        # tolerate a leading sentence ending in a colon ("The diseases are: ...")
        if "\n" not in body and re.search(r"[:：]", body):
            body = re.split(r"[:：]", body, maxsplit=1)[1]
        items = [m for line in body.splitlines() for m in split_items(line)]
        return sorted([raw, m] for m in {m for m in items if not is_none_word(m)})


class NERTask(Task):
    name = "ner"
    document_kind = "ie"
    PromptFields = NERFields
    formats = {f.name: f for f in (TypeLines(), MentionList())}
    default_format = "type_lines"

    def examples(self, doc: IEDocument, entry: DatasetEntry, source_file: str) -> Iterator[Example]:
        types = entry.label_inventory("entity") or sorted({e.type for e in doc.entities})
        if not types:
            return
        yield self.new_example(doc, entry, source_file, "all_types", "all", {"text": doc.text, "options": types},
                               mention_pairs(doc, types), doc.text)
        if entry.task_option("ner").decompose and len(types) > 1:
            for etype in types:
                if any(e.type == etype for e in doc.entities):
                    yield self.new_example(doc, entry, source_file, "single_type", etype,
                                           {"text": doc.text, "options": [etype]}, mention_pairs(doc, [etype]),
                                           doc.text)

    def prompt_fields(self, example: Example, entry: DatasetEntry, lang: str) -> NERFields:
        labels = self.labels(example, entry, lang)
        return NERFields(text=example.fields["text"], entity_types=labels.shown,
                         single_type=len(labels.raw) == 1)
