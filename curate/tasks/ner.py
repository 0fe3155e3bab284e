"""Named entity recognition: find the mentions of given entity types in a text.

A document with several types yields one all-types example and, with task decomposition on, one
example per type. The gold answer is the sorted set of ``[type, mention]`` pairs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from pydantic import BaseModel

from curate.catalog import DatasetEntry
from curate.tasks.base import (
    AnswerFormat,
    Example,
    Gold,
    LabelView,
    Task,
    answer_lines,
    list_items,
    normalize_answer,
    quote_item,
    split_label_line,
    unquoted_find,
)
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


MENTION_SPECIAL = ";；:：\n"


def join_mentions(mentions: list[str], lang: str) -> str:
    sep = "; " if lang == "en" else "；"
    return sep.join(quote_item(m, MENTION_SPECIAL) for m in mentions)


def read_mentions(body: str, text: str = "") -> list[str]:
    """Mentions of one line; a sentence-final period a model added is dropped when the source text
    has the mention without it."""
    mentions = list_items(body)
    return [m[:-1] if m[-1:] in ".。" and m not in text and m[:-1] in text else m for m in mentions]


class TypeLines(AnswerFormat):
    """One line per asked type, ``Type: m1; m2`` (``类型：m1；m2`` in Chinese), ``none``/``无`` when empty.

    A mention holding ``;``, ``:``, a quote or a line break is written in double quotes."""

    name = "type_lines"

    def render(self, gold: Gold, fields: dict[str, Any], labels: LabelView, lang: str) -> str:
        colon, empty = (": ", "none") if lang == "en" else ("：", "无")
        lines = []
        for raw in fields["options"]:
            mentions = in_text_order([m for t, m in gold if t == raw], fields.get("text", ""))
            lines.append(f"{labels.show(raw)}{colon}{join_mentions(mentions, lang) if mentions else empty}")
        return "\n".join(lines)

    def parse(self, text: str, fields: dict[str, Any], labels: LabelView, lang: str) -> Gold:
        found: set[tuple[str, str]] = set()
        single = fields["options"][0] if len(fields["options"]) == 1 else None
        for line in answer_lines(text):
            raw, body = split_label_line(line, labels)
            if raw is None:
                if single is None or unquoted_find(line, ":：") >= 0:
                    continue  # a leading sentence, or a type that was not asked
                raw = single
            found.update((raw, m) for m in read_mentions(body, fields.get("text", "")))
        return sorted([t, m] for t, m in found)


class MentionList(AnswerFormat):
    """Single-type asks: the mentions alone, ``m1; m2`` (``m1；m2``), or ``none``/``无``."""

    name = "mention_list"

    def render(self, gold: Gold, fields: dict[str, Any], labels: LabelView, lang: str) -> str:
        mentions = in_text_order([m for _, m in gold], fields.get("text", ""))
        return join_mentions(mentions, lang) if mentions else ("none" if lang == "en" else "无")

    def parse(self, text: str, fields: dict[str, Any], labels: LabelView, lang: str) -> Gold:
        raw = fields["options"][0]
        items: set[str] = set()
        for line in answer_lines(text):
            # a leading sentence ending in a colon ("The diseases are: ..."); quoted colons are mentions
            cut = unquoted_find(line, ":：")
            items.update(read_mentions(line[cut + 1:] if cut >= 0 else line, fields.get("text", "")))
        return sorted([raw, m] for m in items)


class NERTask(Task):
    name = "ner"
    subtasks = ("all_types", "single_type")
    document_kind = "ie"
    PromptFields = NERFields
    formats: ClassVar[dict[str, AnswerFormat]] = {f.name: f for f in (TypeLines(), MentionList())}
    default_format = "type_lines"

    def examples(self, doc: IEDocument, entry: DatasetEntry, source_file: str) -> Iterator[Example]:
        types = entry.label_inventory("entity") or sorted({e.type for e in doc.entities})
        yield from self.typed_examples(doc, entry, source_file, types, {e.type for e in doc.entities},
                                       lambda asked: mention_pairs(doc, asked))

    def score_items(self, value: Gold, fields: dict[str, Any]) -> set[Any]:
        return {(t, normalize_answer(m)) for t, m in value or []}

    def prompt_fields(self, example: Example, entry: DatasetEntry, lang: str) -> NERFields:
        labels = self.labels(example, entry, lang)
        return NERFields(text=example.fields["text"], entity_types=labels.shown,
                         single_type=len(labels.raw) == 1)
