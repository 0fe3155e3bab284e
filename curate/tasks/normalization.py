"""Entity normalization: link mentions to knowledge-base identifiers or standard terms.

From IE documents (mentions with ``db_name:db_id`` links, e.g. MeSH in BC5CDR) and from term
documents (CHIP-CDN: a clinical term and its standard names). Gold: sorted ``[mention, id]`` pairs.
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
    split_items,
    unquoted_find,
)
from curate.tasks.ner import in_text_order
from schemas.documents import ClassificationDocument, IEDocument

MENTION_SPECIAL = ":：;；\n"


class NENFields(BaseModel):
    """What a normalization template may use."""

    text: str
    mentions: list[str]
    knowledge_base: str
    single_mention: bool


class IdLines(AnswerFormat):
    """One line per mention, ``mention: ID1; ID2`` (``mention：ID1；ID2``); ``none``/``无`` when it has no id.

    Identifiers keep their own colons (``MESH:D003924``): a line is cut at its first colon outside quotes,
    and a mention holding a colon, ``;``, a quote or a line break is written in double quotes."""

    name = "id_lines"

    def render(self, gold: Gold, fields: dict[str, Any], labels: LabelView, lang: str) -> str:
        colon, sep, empty = (": ", "; ", "none") if lang == "en" else ("：", "；", "无")
        lines = []
        for mention in fields["mentions"]:
            ids = [quote_item(i, ";；\n") for m, i in gold if m == mention]
            shown = quote_item(mention, MENTION_SPECIAL)
            lines.append(f"{shown}{colon}{sep.join(ids) if ids else empty}")
        return "\n".join(lines)

    def parse(self, text: str, fields: dict[str, Any], labels: LabelView, lang: str) -> Gold:
        found: set[tuple[str, str]] = set()
        mentions = fields.get("mentions", [])
        for line in answer_lines(text):
            cut = unquoted_find(line, ":：")
            if cut < 0:
                if len(mentions) == 1:  # a single term may be answered with its ids alone
                    found.update((mentions[0], i) for i in list_items(line))
                continue
            head = split_items(line[:cut].strip().lstrip("-*•").strip())
            if not head:
                continue
            found.update((head[0], i) for i in list_items(line[cut + 1:]))
        return sorted([m, i] for m, i in found)


class NormalizationTask(Task):
    name = "nen"
    subtasks = ("mention_ids", "term")
    document_kind = "ie"
    PromptFields = NENFields
    formats: ClassVar[dict[str, AnswerFormat]] = {f.name: f for f in (IdLines(),)}
    default_format = "id_lines"

    def accepts(self, doc: Any) -> bool:
        return getattr(doc, "kind", None) in ("ie", "tc")

    def examples(self, doc: IEDocument | ClassificationDocument, entry: DatasetEntry,
                 source_file: str) -> Iterator[Example]:
        if isinstance(doc, ClassificationDocument):
            if doc.labels:
                yield self.new_example(doc, entry, source_file, "term", "all",
                                       {"text": doc.text, "mentions": [doc.text], "options": [],
                                        "knowledge_base": ""},
                                       sorted([doc.text, label] for label in set(doc.labels)), doc.text)
            return
        pairs = {(e.mention, f"{n.db_name}:{n.db_id}") for e in doc.entities for n in e.normalized}
        if not pairs:
            return
        mentions = in_text_order(sorted({m for m, _ in pairs}), doc.text)
        kbs = sorted({n.db_name for e in doc.entities for n in e.normalized})
        yield self.new_example(doc, entry, source_file, "mention_ids", "all",
                               {"text": doc.text, "mentions": mentions, "options": [],
                                "knowledge_base": ", ".join(kbs)},
                               sorted([m, i] for m, i in pairs), doc.text)

    def score_items(self, value: Gold, fields: dict[str, Any]) -> set[Any]:
        return {(normalize_answer(m), normalize_answer(i)) for m, i in value or []}

    def prompt_fields(self, example: Example, entry: DatasetEntry, lang: str) -> NENFields:
        mentions = example.fields["mentions"]
        return NENFields(text=example.fields["text"], mentions=mentions,
                         knowledge_base=example.fields["knowledge_base"], single_mention=len(mentions) == 1)
