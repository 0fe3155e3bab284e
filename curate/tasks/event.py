"""Event extraction: find the events of given types in a text, with trigger and role fillers.

An event is ``[type, [[role, value], ...]]`` with the trigger as role ``trigger`` and attributes
(CHIP-CDEE ``tendency``) as roles too; the gold answer is the sorted list of such events.
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
    is_none_word,
    label_prefix,
    normalize_answer,
    quote_item,
    split_label_line,
    split_raw,
    unquote,
    unquoted_find,
)
from schemas.documents import Event, IEDocument

TRIGGER = "trigger"
# display names of roles that catalogs rarely name (CHIP-CDEE fields), used when the catalog has none
DEFAULT_ROLE_NAMES = {
    TRIGGER: {"en": "trigger", "zh": "触发词"},
    "core_name": {"en": "core term", "zh": "主体词"},
    "tendency": {"en": "status", "zh": "发生状态"},
    "character": {"en": "descriptor", "zh": "描述词"},
    "anatomy": {"en": "anatomical site", "zh": "解剖部位"},
}
VALUE_SPECIAL = ";；=\n"


class EEFields(BaseModel):
    """What an event-extraction template may use."""

    text: str
    event_types: list[str]
    role_names: list[str]
    single_type: bool


def role_name(entry: DatasetEntry, role: str, lang: str) -> str:
    if role in entry.labels:
        return entry.label(role, lang)
    return DEFAULT_ROLE_NAMES.get(role, {}).get(lang, role)


def event_value(doc: IEDocument, event: Event, ref_id: str, text: str, depth: int = 0) -> str:
    """An argument's surface: an entity's mention, an event's trigger (or type), or the argument text."""
    if not ref_id:
        return text
    for entity in doc.entities:
        if entity.id == ref_id:
            return entity.mention
    for other in doc.events:
        if other.id == ref_id:
            return " ".join(other.trigger.text) if other.trigger else other.type
    return text or ref_id


def event_structure(doc: IEDocument, event: Event) -> list[Any]:
    filled = ((a.role, event_value(doc, event, a.ref_id, a.text)) for a in event.arguments)
    pairs = {(r, v) for r, v in filled if v}
    if event.trigger is not None:
        pairs.add((TRIGGER, " ".join(event.trigger.text)))
    pairs.update((k, v) for k, v in event.attributes.items() if v)
    return [event.type, sorted([r, v] for r, v in pairs)]


def _role_order(role: str) -> tuple[int, str]:
    return (0 if role == TRIGGER else 1, role)


class EventLines(AnswerFormat):
    """One line per event, ``Type: role = value; role = value`` (``类型：角色=值；角色=值``); ``none``/``无``.

    Role names come from the record (``fields["roles"]`` raw, ``fields["role_labels"]`` shown); a value
    holding ``;``, ``=``, a quote or a line break is written in double quotes."""

    name = "event_lines"

    def render(self, gold: Gold, fields: dict[str, Any], labels: LabelView, lang: str) -> str:
        colon, sep, eq, empty = (": ", "; ", " = ", "none") if lang == "en" else ("：", "；", "=", "无")
        roles = LabelView(fields["roles"], fields["role_labels"])
        lines = []
        for etype, pairs in gold:
            ordered = sorted(pairs, key=lambda p: (_role_order(p[0]), p[1]))
            body = sep.join(f"{roles.show(r)}{eq}{quote_item(v, VALUE_SPECIAL)}" for r, v in ordered)
            lines.append(f"{labels.show(etype)}{colon}{body}")
        return "\n".join(lines) if lines else empty

    def parse(self, text: str, fields: dict[str, Any], labels: LabelView, lang: str) -> Gold:
        roles = LabelView(fields.get("roles", []), fields.get("role_labels", []))
        single = fields["options"][0] if len(fields["options"]) == 1 else None
        events: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        for line in answer_lines(text):
            etype, body = split_label_line(line, labels)
            if etype is None:
                if single is None or unquoted_find(line, "=") < 0:
                    continue
                etype, body = single, line
            pairs: set[tuple[str, str]] = set()
            body = body.strip()
            if body[:1] in "(（[" and body[-1:] in ")）]":  # Taiyi's ``(Trigger: x, Theme: y)`` shape
                body = body[1:-1]
            for item in split_raw(body, ";；"):
                cut = unquoted_find(item, "=")
                if cut < 0:
                    cut = unquoted_find(item, ":：")  # Taiyi's ``主体词：疼痛`` shape
                if cut < 0:
                    continue
                role = label_prefix(item[:cut], roles) or f"?{item[:cut].strip()}"
                value = unquote(item[cut + 1:])
                if value and not is_none_word(item[cut + 1:]):
                    pairs.add((role, value))
            if pairs:
                events.add((etype, tuple(sorted(pairs))))
        return sorted([t, [list(p) for p in pairs]] for t, pairs in events)


class EventTask(Task):
    name = "ee"
    subtasks = ("all_types",)
    document_kind = "ie"
    PromptFields = EEFields
    formats: ClassVar[dict[str, AnswerFormat]] = {f.name: f for f in (EventLines(),)}
    default_format = "event_lines"

    def examples(self, doc: IEDocument, entry: DatasetEntry, source_file: str) -> Iterator[Example]:
        marked = [raw for raw, name in entry.labels.items() if name.kind == "event"]
        types = marked or sorted({e.type for e in doc.events})
        if not types:
            return
        events = {(e.type, tuple(tuple(p) for p in event_structure(doc, e)[1])) for e in doc.events
                  if e.type in types}
        gold = sorted([t, [list(p) for p in pairs]] for t, pairs in events)
        # the role list shown: the catalog's roles (kind: role) when it names them, else the roles of this
        # document's events (which tells the model a little; mark roles in the catalog to avoid that)
        marked_roles = {raw for raw, name in entry.labels.items() if name.kind == "role"}
        seen = {r for _, pairs in events for r, _ in pairs}
        roles = sorted((marked_roles | ({TRIGGER} & seen)) if marked_roles else seen, key=_role_order)
        roles += sorted(seen - set(roles), key=_role_order)  # a role the catalog missed is still shown
        yield self.new_example(doc, entry, source_file, "all_types", "all",
                               {"text": doc.text, "options": types, "roles": roles}, gold, doc.text)

    def answer_fields(self, example: Example, entry: DatasetEntry, lang: str) -> dict[str, Any]:
        fields = super().answer_fields(example, entry, lang)
        return {**fields, "role_labels": [role_name(entry, r, lang) for r in example.fields["roles"]]}

    def render_answer(self, example: Example, entry: DatasetEntry, lang: str, fmt: str) -> str:
        fields = self.answer_fields(example, entry, lang) | {"text": example.fields["text"]}
        return self.formats[fmt].render(example.gold, fields, self.labels(example, entry, lang), lang)

    def parse_answer(self, text: str, example: Example, entry: DatasetEntry, lang: str, fmt: str) -> Gold:
        fields = self.answer_fields(example, entry, lang) | {"text": example.fields["text"]}
        try:
            return self.formats[fmt].parse(text, fields, self.labels(example, entry, lang), lang)
        except Exception:
            return None

    def score_items(self, value: Gold, fields: dict[str, Any]) -> set[Any]:
        return {(t, frozenset((r, normalize_answer(v)) for r, v in pairs)) for t, pairs in value or []}

    def prompt_fields(self, example: Example, entry: DatasetEntry, lang: str) -> EEFields:
        labels = self.labels(example, entry, lang)
        return EEFields(text=example.fields["text"], event_types=labels.shown,
                        role_names=[role_name(entry, r, lang) for r in example.fields["roles"]],
                        single_type=len(labels.raw) == 1)
