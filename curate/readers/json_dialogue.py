"""Dialogues from JSON (or any mapped source) described in YAML: a turn list or inline speaker markers.

The record mapping finds the records; these options say where the turns are (a list with speaker and
text keys, or one text with inline markers such as ``<user>:``/``<bot>:``), which speaker is the doctor,
and which per-turn key holds a label: ``view: dialogue`` yields conversations, ``turn_labels`` one
classified utterance per turn (dialogue acts), ``bio`` one utterance per turn with entities from BIO tags.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, Field

from curate.readers.base import ReadContext
from curate.readers.mapping import MISSING, MappedReader, SourceOptions, get_path, is_empty, iter_records, text_of
from schemas.documents import ClassificationDocument, DialogueDocument, Entity, IEDocument, Passage, Turn

Role = Literal["user", "assistant"]


class JsonDialogueOptions(SourceOptions):
    """Source options of the record mapping plus where a record's turns and per-turn labels are."""

    view: Literal["dialogue", "turn_labels", "bio"] = Field(
        "dialogue", description="dialogue: one conversation per record; turn_labels: one classified turn each "
        "(label key); bio: one turn each with entities from BIO tags (label key)")
    turns: str | None = Field("dialogue", description="path of the turn list (none: use `markers`)")
    speaker: str = Field("speaker", description="key of a turn's speaker")
    text: str = Field("sentence", description="key of a turn's text; with `markers`: path of the record's text")
    roles: dict[str, Role] = Field(default_factory=dict, description="speaker value -> user or assistant")
    default_role: Role | None = Field("user", description="role of a speaker not in `roles` (none: reject)")
    markers: dict[str, Role] = Field(default_factory=dict, description="inline speaker markers in one text, "
                                     "e.g. {'<user>:': user, '<bot>:': assistant}")
    response: str | None = Field(None, description="path of a final assistant turn kept outside the turn list")
    context: str | None = Field(None, description="path of background text (e.g. a self-report)")
    label: str | None = Field(None, description="turn_labels/bio: key of the per-turn label or BIO tags")
    tokens: Literal["chars", "whitespace"] = Field("chars", description="bio: one tag per character or per "
                                                   "whitespace-separated token")


class JsonDialogueReader(MappedReader):
    name = "json_dialogue"
    Options = JsonDialogueOptions
    description = "dialogues from JSON: turn lists with speaker keys or inline markers, per-turn labels or BIO tags"

    def read(self, path: str, ctx: ReadContext) -> Iterator[BaseModel]:
        opts: JsonDialogueOptions = self.options  # type: ignore[assignment]
        for line, rid, record in iter_records(path, ctx, opts):
            turns = self._turns(record, line, rid, ctx)
            if turns is None:
                continue
            if opts.view == "dialogue":
                yield from self._dialogue(record, turns, line, rid, ctx)
            else:
                for n, (role, text, raw) in enumerate(turns):
                    doc = self._labelled_turn(role, text, raw, f"{rid}:{n}", rid, line, ctx)
                    if doc is not None:
                        yield doc

    def _turns(self, record: Any, line: int | None, rid: str,
               ctx: ReadContext) -> list[tuple[Role, str, Any]] | None:
        """(role, text, raw turn) for every non-empty turn, or None (rejected) when the record has none."""
        opts: JsonDialogueOptions = self.options  # type: ignore[assignment]
        if opts.markers:
            text = text_of(get_path(record, opts.text))
            turns = _split_markers(text, opts.markers)
        else:
            items = get_path(record, opts.turns or "")
            if not isinstance(items, list):
                ctx.reject(f"record has no turn list at {opts.turns!r}", line=line, record_id=rid,
                           field=str(opts.turns))
                return None
            turns = []
            for n, item in enumerate(items):
                speaker = text_of(get_path(item, opts.speaker)).strip()
                role = opts.roles.get(speaker, opts.default_role)
                if role is None:
                    ctx.reject(f"speaker {speaker!r} is not in roles", line=line, record_id=rid,
                               field=f"{opts.turns}[{n}].{opts.speaker}")
                    return None
                content = text_of(get_path(item, opts.text))
                if content.strip():
                    turns.append((role, content, item))
        if opts.response:
            response = get_path(record, opts.response)
            if not is_empty(response):
                turns.append(("assistant", text_of(response), {}))
        if not turns:
            ctx.reject("record has no turns", line=line, record_id=rid, field=str(opts.turns or opts.text))
            return None
        return turns

    def _dialogue(self, record: Any, turns: list[tuple[Role, str, Any]], line: int | None, rid: str,
                  ctx: ReadContext) -> Iterator[DialogueDocument]:
        opts: JsonDialogueOptions = self.options  # type: ignore[assignment]
        merged: list[Turn] = []
        for role, text, _ in turns:
            if merged and merged[-1].role == role:
                merged[-1].content += "\n" + text
            else:
                merged.append(Turn(role=role, content=text))
        context = text_of(get_path(record, opts.context)) if opts.context else ""
        doc = ctx.make(DialogueDocument, line=line, record_id=rid, id=ctx.unique_id(rid), document_id=rid,
                       split=ctx.split, turns=merged, context=context)
        if doc is not None:
            yield doc

    def _labelled_turn(self, role: Role, text: str, raw: Any, tid: str, rid: str, line: int | None,
                       ctx: ReadContext) -> BaseModel | None:
        opts: JsonDialogueOptions = self.options  # type: ignore[assignment]
        value = get_path(raw, opts.label) if opts.label and isinstance(raw, dict) else MISSING
        if opts.view == "turn_labels":
            label = text_of(value).strip()
            if not label or (ctx.labels and label not in ctx.labels):
                ctx.reject(f"turn label {label!r} is empty or unknown", line=line, record_id=tid, field=str(opts.label))
                return None
            return ctx.make(ClassificationDocument, line=line, record_id=tid, id=ctx.unique_id(tid), document_id=rid,
                            split=ctx.split, text=text, labels=[label])
        tags = value if isinstance(value, list) else text_of(value).split()
        tokens = list(_token_spans(text, opts.tokens))
        if len(tags) != len(tokens):
            ctx.reject(f"{len(tags)} BIO tags for {len(tokens)} tokens", line=line, record_id=tid,
                       field=str(opts.label))
            return None
        entities: list[Entity] = []
        for etype, start, end in _bio_spans([str(t) for t in tags], tokens):
            entity = ctx.entity(text, id=f"T{len(entities)}", type=etype, spans=[(start, end)], line=line,
                                record_id=tid)
            if entity is not None:
                entities.append(entity)
        return ctx.make(IEDocument, line=line, record_id=tid, id=ctx.unique_id(tid), document_id=rid,
                        split=ctx.split, text=text, passages=[Passage(id="s0", type="turn", offsets=[(0, len(text))])],
                        entities=entities)


def _split_markers(text: str, markers: dict[str, Role]) -> list[tuple[Role, str, Any]]:
    pattern = re.compile("|".join(re.escape(m) for m in sorted(markers, key=len, reverse=True)))
    found = list(pattern.finditer(text))
    turns: list[tuple[Role, str, Any]] = []
    for match, following in zip(found, [*found[1:], None], strict=True):
        content = text[match.end(): following.start() if following else len(text)].strip()
        if content:
            turns.append((markers[match.group()], content, {}))
    return turns


def _token_spans(text: str, tokens: str) -> Iterator[tuple[int, int]]:
    if tokens == "chars":
        yield from ((i, i + 1) for i in range(len(text)))
    else:
        yield from (m.span() for m in re.finditer(r"\S+", text))


def _bio_spans(tags: list[str], tokens: list[tuple[int, int]]) -> Iterator[tuple[str, int, int]]:
    """(type, start, end) of each B-/I- run; an I- without a B- opens an entity of its own."""
    current: list[Any] | None = None
    for tag, (start, end) in zip(tags, tokens, strict=True):
        prefix, _, etype = tag.partition("-")
        if prefix == "I" and current is not None and current[0] == etype:
            current[2] = end
            continue
        if current is not None:
            yield current[0], current[1], current[2]
            current = None
        if prefix in ("B", "I") and etype:
            current = [etype, start, end]
    if current is not None:
        yield current[0], current[1], current[2]
