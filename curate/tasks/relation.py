"""End-to-end relation extraction: list the (head, tail) entity pairs of given relation types.

No gold entities are given to the model, as in Taiyi. The gold answer is the sorted set of
``[relation, head mention, tail mention]`` triples.
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
    label_prefix,
    normalize_answer,
    quote_item,
    split_quoted,
    unquoted_find,
)
from schemas.documents import IEDocument


class REFields(BaseModel):
    """What an RE template may use."""

    text: str
    relation_types: list[str]
    single_type: bool


def triples(doc: IEDocument, types: list[str]) -> list[list[str]]:
    found = set()
    for rel in doc.relations:
        if rel.type in types:
            found.add((rel.type, doc.entity(rel.arg1_id).mention, doc.entity(rel.arg2_id).mention))
    return sorted([r, h, t] for r, h, t in found)


PAIR_SPECIAL = ",，;；[]［］【】|\n"
_OPEN = {"[": "]］】", "［": "]］】", "【": "]］】", "(": ")）", "（": ")）"}
_PAIR_SEPS = ",，|"


def _split_pair(inner: str, text: str) -> tuple[str, str] | None:
    """``head, tail`` → (head, tail). Quoted names are taken as written; for unquoted names with commas
    (a model that did not quote ``2,4-dinitrophenol``) the split whose two halves both occur in the
    source text wins, else the first comma."""
    parts = split_quoted(inner, _PAIR_SEPS)
    if len(parts) == 2:
        return parts[0], parts[1]
    if len(parts) < 2 or '"' in inner:
        return None
    cuts = [i for i, c in enumerate(inner) if c in _PAIR_SEPS]
    for i in cuts:
        head, tail = inner[:i].strip(), inner[i + 1:].strip()
        if head and tail and head in text and tail in text:
            return head, tail
    return inner[:cuts[0]].strip(), inner[cuts[0] + 1:].strip()


def read_pairs(body: str, text: str) -> list[tuple[str, str]]:
    """Every bracketed ``[head, tail]`` of a line (also ``(head, tail)`` and full-width brackets)."""
    pairs = []
    i = 0
    while True:
        start = unquoted_find(body, "".join(_OPEN), i)
        if start < 0:
            return pairs
        end = unquoted_find(body, _OPEN[body[start]], start + 1)
        if end < 0:
            return pairs
        pair = _split_pair(body[start + 1:end], text)
        if pair is not None:
            pairs.append(pair)
        i = end + 1


class RelationLines(AnswerFormat):
    """One line per asked relation type: ``Rel: [head, tail]; [head, tail]``, ``none``/``无`` when empty.

    A name holding a comma, bracket, ``;``, ``|``, a quote or a line break is written in double quotes."""

    name = "relation_lines"

    def render(self, gold: Gold, fields: dict[str, Any], labels: LabelView, lang: str) -> str:
        colon, sep, comma, empty = (": ", "; ", ", ", "none") if lang == "en" else ("：", "；", "，", "无")
        lines = []
        for raw in fields["options"]:
            pairs = [f"[{quote_item(h, PAIR_SPECIAL)}{comma}{quote_item(t, PAIR_SPECIAL)}]"
                     for r, h, t in gold if r == raw]
            lines.append(f"{labels.show(raw)}{colon}{sep.join(pairs) if pairs else empty}")
        return "\n".join(lines)

    def parse(self, text: str, fields: dict[str, Any], labels: LabelView, lang: str) -> Gold:
        found: set[tuple[str, str, str]] = set()
        single = fields["options"][0] if len(fields["options"]) == 1 else None
        source = fields.get("text", "")
        for line in answer_lines(text):
            cut = unquoted_find(line, ":：")
            first_pair = unquoted_find(line, "[［【")
            raw: str | None = None
            if cut >= 0 and (first_pair < 0 or cut < first_pair):  # ``Relation: [h, t]`` (names may hold "(")
                raw, body = label_prefix(line[:cut], labels), line[cut + 1:]
            else:  # no colon: a relation name, if any, comes before the first pair
                head = line if first_pair < 0 else line[:first_pair]
                raw, body = (label_prefix(head, labels) if head.strip() else None), line
            raw = raw or single
            if raw is None:
                continue
            found.update((raw, h, t) for h, t in read_pairs(body, source))
        return sorted([r, h, t] for r, h, t in found)


class RelationTask(Task):
    name = "re"
    subtasks = ("all_types", "single_type")
    document_kind = "ie"
    PromptFields = REFields
    formats: ClassVar[dict[str, AnswerFormat]] = {f.name: f for f in (RelationLines(),)}
    default_format = "relation_lines"

    def examples(self, doc: IEDocument, entry: DatasetEntry, source_file: str) -> Iterator[Example]:
        types = entry.label_inventory("relation") if any(
            n.kind == "relation" for n in entry.labels.values()) else sorted({r.type for r in doc.relations})
        yield from self.typed_examples(doc, entry, source_file, types, {r.type for r in doc.relations},
                                       lambda asked: triples(doc, asked))

    def score_items(self, value: Gold, fields: dict[str, Any]) -> set[Any]:
        return {(r, normalize_answer(h), normalize_answer(t)) for r, h, t in value or []}

    def prompt_fields(self, example: Example, entry: DatasetEntry, lang: str) -> REFields:
        labels = self.labels(example, entry, lang)
        return REFields(text=example.fields["text"], relation_types=labels.shown,
                        single_type=len(labels.raw) == 1)
