"""Information extraction from JSON records described in YAML: entities, relations, nested containers.

The record mapping (``curate.readers.mapping``) finds the records; this reader's options say where a
record's text, entity list and relation list are and which keys hold start, end, type, mention and id.
Offsets may be strings, end-inclusive, or relative to a container (document -> paragraphs -> sentences,
each level with its own offset key). Entities given only by a mention are located in their container's
text (missing mentions dropped and reported, ambiguous ones counted and resolved or dropped by option).
Relations name their arguments by entity id or by mention. Overlapping (nested) entities and
discontinuous spans (a list of ``[start, end]`` pairs, or a string ``a-b,c-d``) are kept as given.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from curate.readers.base import ReadContext
from curate.readers.mapping import (
    MISSING,
    MappedReader,
    SourceOptions,
    get_path,
    is_empty,
    iter_records,
    text_of,
)
from schemas.documents import Entity, IEDocument, Passage, Relation

_SPAN_TEXT = re.compile(r"^\s*(\d+)\s*[-:]\s*(\d+)\s*$")


class LevelSpec(BaseModel):
    """One container level below the record (e.g. paragraphs, then sentences inside each paragraph)."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="list of containers inside the parent (record or previous level)")
    offset: str | None = Field(None, description="key of the container's start within its parent's text (or "
                               "within the document when `absolute`); none: found by searching its text")
    absolute: bool = Field(False, description="the offset counts from the document start, not the parent")
    text: str = Field("text", description="key of the container's own text")
    type: str = Field("passage", description="passage type recorded for each container of this level")


class EntitySpec(BaseModel):
    """Where a container's entities are and which keys describe one."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field("entities", description="list of entities inside the innermost container (or the record)")
    start: str | None = Field(None, description="key of the start offset (none: locate the mention in the text)")
    end: str | None = Field(None, description="key of the end offset (default: start + length of the mention)")
    spans: str | None = Field(None, description="key of a list of [start, end] pairs or a string `a-b,c-d` "
                              "(discontinuous entities); used instead of start/end where present")
    end_inclusive: bool = Field(False, description="the end offset points at the last character")
    type: str | None = Field("type", description="key of the entity type")
    type_const: str | None = Field(None, description="one type for every entity (when the source has none)")
    mention: str | None = Field("text", description="key of the mention text (checked against the offsets)")
    id: str | None = Field("id", description="key of the entity id that relations refer to")
    ambiguous: Literal["first", "drop"] = Field(
        "first", description="a mention found several times: take the first after the previous entity, or drop "
        "it (both counted as `ambiguous_mentions`)")


class RelationSpec(BaseModel):
    """Where a record's relations are and how they name their arguments."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field("relations", description="list of relations inside the record")
    type: str | None = Field("type", description="key of the relation type")
    type_const: str | None = None
    head: str = Field("head", description="key of the first argument (an entity id or a mention)")
    tail: str = Field("tail", description="key of the second argument")
    by: Literal["id", "mention"] = Field("id", description="arguments are entity ids or mention strings")


class JsonIEOptions(SourceOptions):
    """Source options of the record mapping plus the IE layout of a record."""

    text: str = Field("text", description="path of the document text (empty: built from the innermost containers "
                      "placed at their offsets)")
    levels: list[LevelSpec] = Field(default_factory=list, description="containers from outer to inner")
    entities: EntitySpec | None = Field(default_factory=EntitySpec)
    relations: RelationSpec | None = None


@dataclass
class _Container:
    element: Any
    start: int  # absolute offset of the container's text in the document
    text: str
    path: str  # e.g. paragraphs[1].sentences[0], for reject messages
    type: str = "text"


class JsonIEReader(MappedReader):
    name = "json_ie"
    Options = JsonIEOptions
    description = ("IE from JSON, JSON lines or any mapped source: entity and relation lists with configurable "
                   "keys, relative offsets, mention-only entities, discontinuous spans")

    def read(self, path: str, ctx: ReadContext) -> Iterator[IEDocument]:
        opts: JsonIEOptions = self.options  # type: ignore[assignment]
        for line, rid, record in iter_records(path, ctx, opts):
            if not isinstance(record, dict):
                ctx.reject("record is not a JSON object", line=line, record_id=rid)
                continue
            doc = self._document(record, line, rid, ctx)
            if doc is not None:
                yield doc

    def _document(self, record: dict[str, Any], line: int | None, rid: str, ctx: ReadContext) -> IEDocument | None:
        opts: JsonIEOptions = self.options  # type: ignore[assignment]
        raw_text = get_path(record, opts.text) if opts.text else MISSING
        containers = self._containers(record, "" if is_empty(raw_text) else text_of(raw_text), line, rid, ctx)
        if containers is None:
            return None
        if is_empty(raw_text):
            if not opts.levels:
                ctx.reject(f"record has no text at {opts.text!r}", line=line, record_id=rid, field=opts.text)
                return None
            text = _placed(containers)
        else:
            text = text_of(raw_text)
        entities: list[Entity] = []
        by_source_id: dict[str, str] = {}
        if opts.entities is not None:
            for container in containers:
                self._entities(text, container, entities, by_source_id, line, rid, ctx)
        relations = self._relations(record, text, entities, by_source_id, line, rid, ctx)
        passages = [Passage(id=f"p{i}", type=c.type, offsets=[(c.start, c.start + len(c.text))])
                    for i, c in enumerate(containers) if c.path]
        return ctx.make(IEDocument, line=line, record_id=rid, id=ctx.unique_id(rid), document_id=rid, split=ctx.split,
                        text=text, passages=passages or [Passage(id="p0", type="text", offsets=[(0, len(text))])],
                        entities=entities, relations=relations)

    def _containers(self, record: dict[str, Any], text: str, line: int | None, rid: str,
                    ctx: ReadContext) -> list[_Container] | None:
        """The innermost containers with their absolute start; the record itself when there are no levels."""
        opts: JsonIEOptions = self.options  # type: ignore[assignment]
        current = [_Container(record, 0, text, "")]
        for level in opts.levels:
            deeper: list[_Container] = []
            for parent in current:
                items = get_path(parent.element, level.path)
                if items is MISSING:
                    continue
                if not isinstance(items, list):
                    ctx.reject(f"{level.path!r} is not a list", line=line, record_id=rid, field=level.path)
                    return None
                cursor = 0
                for n, item in enumerate(items):
                    where = f"{parent.path + '.' if parent.path else ''}{level.path}[{n}]"
                    own = text_of(get_path(item, level.text))
                    offset = get_path(item, level.offset) if level.offset else MISSING
                    if offset is MISSING:
                        found = parent.text.find(own, cursor) if parent.text else -1
                        start = parent.start + found if found >= 0 else (parent.start + cursor if not text else -1)
                        if start < 0:
                            ctx.reject("container text not found in its parent and no `offset` key", line=line,
                                       record_id=rid, field=where)
                            return None
                    else:
                        try:
                            start = int(str(offset).strip()) + (0 if level.absolute else parent.start)
                        except ValueError:
                            ctx.reject(f"offset {offset!r} is not an integer", line=line, record_id=rid, field=where)
                            return None
                    cursor = start - parent.start + len(own)
                    deeper.append(_Container(item, start, own, where, level.type))
            current = deeper
        return current

    def _entities(self, text: str, container: _Container, entities: list[Entity], by_source_id: dict[str, str],
                  line: int | None, rid: str, ctx: ReadContext) -> None:
        spec: EntitySpec = self.options.entities  # type: ignore[attr-defined, assignment]
        items = get_path(container.element, spec.path)
        if items is MISSING:
            return
        if not isinstance(items, list):
            ctx.reject(f"{spec.path!r} is not a list", line=line, record_id=rid, field=spec.path, action="dropped")
            return
        cursor = 0
        for n, item in enumerate(items):
            where = f"{container.path + '.' if container.path else ''}{spec.path}[{n}]"
            if not isinstance(item, dict):
                ctx.reject("entity is not an object", line=line, record_id=rid, field=where, action="dropped")
                continue
            etype = spec.type_const or (text_of(get_path(item, spec.type)) if spec.type else "")
            mention_raw = get_path(item, spec.mention) if spec.mention else MISSING
            mention = None if is_empty(mention_raw) else text_of(mention_raw)
            spans = self._spans(item, mention, container, cursor, where, line, rid, ctx)
            if spans is None:
                continue
            cursor = spans[-1][1] - container.start
            source_id = get_path(item, spec.id) if spec.id else MISSING
            entity = ctx.entity(text, id=f"T{len(entities)}", type=etype or "entity", spans=spans, mention=mention,
                                line=line, record_id=rid)
            if entity is None:
                continue
            entities.append(entity)
            if not is_empty(source_id):
                by_source_id[str(source_id)] = entity.id

    def _spans(self, item: dict[str, Any], mention: str | None, container: _Container, cursor: int, where: str,
               line: int | None, rid: str, ctx: ReadContext) -> list[tuple[int, int]] | None:
        """Absolute spans of one entity: from its offsets, or by locating its mention in the container text."""
        spec: EntitySpec = self.options.entities  # type: ignore[attr-defined, assignment]
        base = container.start
        try:
            raw = get_path(item, spec.spans) if spec.spans else MISSING
            if not is_empty(raw):
                pairs = _span_pairs(raw)
                return [(base + s, base + e + (1 if spec.end_inclusive else 0)) for s, e in pairs]
            if spec.start:
                start_raw = get_path(item, spec.start)
                if not is_empty(start_raw):
                    start = int(str(start_raw).strip())
                    end_raw = get_path(item, spec.end) if spec.end else MISSING
                    if is_empty(end_raw):
                        if mention is None:
                            raise ValueError("no end and no mention")
                        end = start + len(mention)
                    else:
                        end = int(str(end_raw).strip()) + (1 if spec.end_inclusive else 0)
                    return [(base + start, base + end)]
        except (ValueError, TypeError) as exc:
            ctx.reject(f"entity offsets cannot be read ({exc})", line=line, record_id=rid, field=where,
                       action="dropped")
            return None
        if mention is None:
            ctx.reject("entity has neither offsets nor a mention", line=line, record_id=rid, field=where,
                       action="dropped")
            return None
        found = _occurrences(container.text, mention)
        if not found:
            ctx.reject(f"mention {mention!r} does not occur in the text", line=line, record_id=rid, field=where,
                       action="dropped")
            return None
        if len(found) > 1:
            ctx.count("ambiguous_mentions")
            if spec.ambiguous == "drop":
                ctx.reject(f"mention {mention!r} occurs {len(found)} times", line=line, record_id=rid, field=where,
                           action="dropped")
                return None
        start = next((f for f in found if f >= cursor), found[0])
        return [(base + start, base + start + len(mention))]

    def _relations(self, record: dict[str, Any], text: str, entities: list[Entity], by_source_id: dict[str, str],
                   line: int | None, rid: str, ctx: ReadContext) -> list[Relation]:
        spec: RelationSpec | None = self.options.relations  # type: ignore[attr-defined]
        if spec is None:
            return []
        items = get_path(record, spec.path)
        if items is MISSING:
            return []
        if not isinstance(items, list):
            ctx.reject(f"{spec.path!r} is not a list", line=line, record_id=rid, field=spec.path, action="dropped")
            return []
        by_mention: dict[str, str] = {}
        for entity in entities:
            by_mention.setdefault(" ".join(entity.text), entity.id)
        out: list[Relation] = []
        for n, item in enumerate(items):
            where = f"{spec.path}[{n}]"
            if not isinstance(item, dict):
                ctx.reject("relation is not an object", line=line, record_id=rid, field=where, action="dropped")
                continue
            rtype = spec.type_const or (text_of(get_path(item, spec.type)) if spec.type else "")
            args: list[str] = []
            for key in (spec.head, spec.tail):
                value = text_of(get_path(item, key))
                table = by_source_id if spec.by == "id" else by_mention
                if value not in table:
                    ctx.reject(f"argument {key}={value!r} names no entity of the record (by {spec.by})", line=line,
                               record_id=rid, field=f"{where}.{key}", action="dropped")
                    break
                args.append(table[value])
            if len(args) == 2 and rtype:
                out.append(Relation(id=f"R{n}", type=rtype, arg1_id=args[0], arg2_id=args[1]))
            elif len(args) == 2:
                ctx.reject("relation has no type", line=line, record_id=rid, field=where, action="dropped")
        return out


def _span_pairs(raw: Any) -> list[tuple[int, int]]:
    """[[s, e], ...] or "s-e,s-e" -> [(s, e), ...]; ValueError when neither."""
    if isinstance(raw, str):
        pairs = []
        for part in raw.split(","):
            match = _SPAN_TEXT.match(part)
            if match is None:
                raise ValueError(f"span {part!r} is not start-end")
            pairs.append((int(match.group(1)), int(match.group(2))))
        return pairs
    if isinstance(raw, list) and raw and all(isinstance(p, list | tuple) and len(p) == 2 for p in raw):
        return [(int(str(s)), int(str(e))) for s, e in raw]
    raise ValueError(f"spans {raw!r} are neither [[start, end], ...] nor 'a-b,c-d'")


def _occurrences(text: str, mention: str) -> list[int]:
    found, start = [], text.find(mention)
    while start >= 0 and mention:
        found.append(start)
        start = text.find(mention, start + 1)
    return found


def _placed(containers: list[_Container]) -> str:
    """A document text built from containers at their absolute offsets (gaps filled with spaces)."""
    out = ""
    for container in sorted(containers, key=lambda c: c.start):
        if container.start < len(out):
            out = out[: container.start] + container.text + out[container.start + len(container.text):]
        else:
            out += " " * (container.start - len(out)) + container.text
    return out
