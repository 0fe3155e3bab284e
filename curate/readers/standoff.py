"""BRAT and BioNLP-ST standoff: a ``.txt`` document with ``.ann`` (BRAT) or ``.a1``/``.a2`` (BioNLP-ST) files.

Offsets are 0-based, end-exclusive character offsets into the .txt (``;`` separates the fragments of a
discontinuous span); every text-bound annotation is checked against the text at its offsets.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from curate.readers._paths import sibling_path
from curate.readers.base import ReadContext, Reader, path_exists, read_text, text_lines
from schemas.documents import (
    Coreference,
    Entity,
    Event,
    EventArgument,
    IEDocument,
    Normalization,
    Passage,
    Relation,
    Trigger,
)


class StandoffOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    encoding: str = "utf-8"
    annotation_suffixes: list[str] = Field(
        default_factory=lambda: [".ann", ".a1", ".a2"],
        description="annotation files next to each .txt; those that exist are read (at least one must)")
    a2_textbounds: Literal["secondary", "entities"] = Field(
        "secondary", description="non-trigger text-bound annotations of .a2 files. secondary (BioNLP-ST: the "
        "entities are the given .a1 ones): an event argument keeps it inline with its offsets, a relation "
        "argument makes it an entity, an unused one is dropped with a reject; entities: all become entities")
    equivalences: Literal["coreferences", "ignore"] = Field(
        "coreferences", description="`*<TAB>Equiv T1 T2` groups become coreferences")
    coreference_relations: list[str] = Field(
        default_factory=lambda: ["Coreference", "Coref"], description="relation types read as coreferences")
    passages: Literal["lines", "document"] = Field(
        "lines", description="lines: each non-empty line of the .txt is a passage (title, abstract, ...)")
    argumentless_events: Literal["events", "entities"] = Field(
        "events", description="an event line without arguments (`E1<TAB>SNP:T3`, a BRAT-tool leftover in SETH): "
        "events keeps it as an event; entities drops it with a reject and keeps its text-bound as an entity")
    texts: Literal["file", "id_tab_lines"] = Field(
        "file", description="file: each listed file is one document's text (`<id>.txt`); id_tab_lines: each "
        "listed file holds one document per line, `<id><TAB><text>` (SETH's corpus.txt), offsets relative to "
        "the text after the tab")
    annotation_dir: str | None = Field(
        None, description="folder of the annotation files, relative to the text file's folder (e.g. "
        "`../annotations`); None: next to the text")


class _At(int):
    """A line number of an annotation file that knows that file's context, so that a reject found later
    (an event missing its argument) names the annotation file and line, not the text file."""

    src: ReadContext

    def __new__(cls, number: int, src: ReadContext) -> _At:
        line = super().__new__(cls, number)
        line.src = src
        return line


def _at(number: int, ctx: ReadContext) -> ReadContext:
    return number.src if isinstance(number, _At) else ctx


def _reject_at(number: int, ctx: ReadContext, reason: str, **where: str) -> None:
    """Reject at an annotation line, in that line's file."""
    _at(number, ctx).reject(reason, line=int(number), **where)  # type: ignore[arg-type]


@dataclass
class _Parsed:
    textbounds: dict[str, tuple[int, str, list[tuple[int, int]], str, str]] = field(default_factory=dict)
    events: list[tuple[int, str, str, str, list[tuple[str, str]]]] = field(default_factory=list)
    relations: list[tuple[int, str, str, list[tuple[str, str]]]] = field(default_factory=list)
    equivs: list[tuple[int, list[str]]] = field(default_factory=list)
    attributes: list[tuple[int, str, str, str]] = field(default_factory=list)
    normalizations: list[tuple[int, str, str, str]] = field(default_factory=list)
    modifications: int = 0  # M lines (Negation, Speculation), a kind of attribute


class StandoffReader(Reader):
    name = "standoff"
    Options = StandoffOptions
    description = "BRAT .txt/.ann and BioNLP-ST .txt/.a1/.a2 standoff (discontinuous spans, events, equivalences)"

    def read(self, path: str, ctx: ReadContext) -> Iterator[IEDocument]:
        opts: StandoffOptions = self.options  # type: ignore[assignment]
        text = read_text(path, ctx, opts.encoding)
        if text is None:
            return
        if opts.texts == "id_tab_lines":
            for number, line in text_lines(text):
                if not line.strip():
                    continue
                doc_id, tab, body = line.partition("\t")
                if not tab or not doc_id.strip():
                    ctx.reject("line is not `<id><TAB><text>`", line=number, record_id=ctx.position_id(
                        f"line{number}"), field="(line)")
                    continue
                doc = self._read_document(doc_id.strip(), body, self._annotation_stem(path, doc_id.strip()), ctx,
                                          number)
                if doc is not None:
                    yield doc
            return
        stem = path[: -len(".txt")] if path.endswith(".txt") else path.rsplit(".", 1)[0]
        doc_id = PurePosixPath(stem.replace("!", "/")).name
        doc = self._read_document(doc_id, text, self._annotation_stem(path, doc_id) if opts.annotation_dir
                                  else stem, ctx, None)
        if doc is not None:
            yield doc

    def _annotation_stem(self, text_path: str, doc_id: str) -> str:
        """Path of a document's annotation files without suffix: in ``annotation_dir`` (relative to the
        text's folder, inside the same archive for archive members) or next to the text."""
        folder: str = self.options.annotation_dir or ""  # type: ignore[attr-defined]
        return sibling_path(text_path, posixpath.join(folder, doc_id))

    def _read_document(self, doc_id: str, text: str, ann_stem: str, ctx: ReadContext,
                       line: int | None) -> IEDocument | None:
        opts: StandoffOptions = self.options  # type: ignore[assignment]
        parsed = _Parsed()
        found = False
        if opts.annotation_dir or opts.texts == "id_tab_lines":
            shown_stem = self._annotation_stem(ctx.file, doc_id)
        else:
            shown_stem = ctx.file[: -len(".txt")] if ctx.file.endswith(".txt") else ctx.file.rsplit(".", 1)[0]
        for suffix in opts.annotation_suffixes:
            ann_path = ann_stem + suffix
            if not path_exists(ann_path):
                continue
            found = True
            # rejects of an annotation line name the annotation file (as the catalog shows it) and its line
            ann_ctx = ReadContext(ctx.dataset, ctx.split, shown_stem + suffix, ctx.language, ctx.labels,
                                  rejects=ctx.rejects, stats=ctx.stats)
            ann_text = read_text(ann_path, ann_ctx, opts.encoding) if _nonempty(ann_path) else ""
            if ann_text is None:
                continue
            self._parse(ann_text, suffix, ann_ctx, doc_id, parsed)
        if not found:
            ctx.reject(f"no annotation file ({', '.join(opts.annotation_suffixes)}) at {shown_stem}", line=line,
                       record_id=doc_id, field="(file)")
            return None
        return self._document(doc_id, text, parsed, ctx)

    def _parse(self, ann_text: str, suffix: str, ctx: ReadContext, doc_id: str, parsed: _Parsed) -> None:
        for plain_number, line in text_lines(ann_text):
            if not line.strip() or line.startswith("#"):
                continue
            number = _At(plain_number, ctx)
            cols = line.split("\t")
            ann_id = cols[0].strip()
            kind = ann_id[:1]
            try:
                if kind == "T":
                    type_, _, offsets = cols[1].partition(" ")
                    spans = [(int(a), int(b)) for a, b in (piece.split() for piece in offsets.split(";"))]
                    mention = cols[2] if len(cols) > 2 else None
                    if mention is None:
                        raise ValueError("no mention text column")
                    if ann_id in parsed.textbounds:  # .a2 ids continue .a1's; a reused one is an error
                        raise ValueError(f"id {ann_id} is already used by line {parsed.textbounds[ann_id][0]} "
                                         f"of {parsed.textbounds[ann_id][4]}")
                    parsed.textbounds[ann_id] = (number, type_, spans, mention, suffix)
                elif kind == "E":
                    parts = cols[1].split()
                    type_, _, trigger = parts[0].partition(":")
                    args = [tuple(p.split(":", 1)) for p in parts[1:]]
                    if any(len(a) != 2 for a in args):
                        raise ValueError("an argument is not ROLE:ID")
                    parsed.events.append((number, ann_id, type_, trigger, args))  # type: ignore[arg-type]
                elif kind == "R":
                    parts = cols[1].split()
                    args = [tuple(p.split(":", 1)) for p in parts[1:]]
                    if len(args) != 2 or any(len(a) != 2 for a in args):
                        raise ValueError("a relation needs two ROLE:ID arguments")
                    parsed.relations.append((number, ann_id, parts[0], args))  # type: ignore[arg-type]
                elif kind == "*":
                    parts = cols[1].split()
                    parsed.equivs.append((number, parts[1:]))
                elif kind in ("A", "M"):
                    parts = cols[1].split()
                    parsed.attributes.append((number, parts[0], parts[1], parts[2] if len(parts) > 2 else "true"))
                    parsed.modifications += kind == "M"
                elif kind == "N":
                    parts = cols[1].split()
                    db, _, ident = parts[2].partition(":")
                    parsed.normalizations.append((number, parts[1], db, ident))
                else:
                    ctx.reject(f"unknown annotation kind {ann_id!r} in {suffix}", line=plain_number, record_id=doc_id,
                               field="annotation", action="dropped")
            except (IndexError, ValueError) as exc:
                ctx.reject(f"malformed {suffix} line ({exc}): {line[:80]!r}", line=plain_number, record_id=doc_id,
                           field="annotation", action="dropped")

    def _document(self, doc_id: str, text: str, p: _Parsed, ctx: ReadContext) -> IEDocument | None:
        opts: StandoffOptions = self.options  # type: ignore[assignment]
        if opts.argumentless_events == "entities":
            for number, ann_id, type_, trigger, _args in [e for e in p.events if not e[4]]:
                _reject_at(number, ctx, f"event {ann_id} ({type_}) has no arguments; kept its text-bound {trigger} "
                           "as an entity (argumentless_events: entities)", record_id=doc_id, field="event",
                           action="dropped")
            p.events = [e for e in p.events if e[4]]
        triggers = {trigger for _, _, _, trigger, _ in p.events}
        relation_args = {a for _, _, _, args in p.relations for _, a in args}
        event_args = {a for *_, args in p.events for _, a in args}
        entities: dict[str, Entity] = {}
        trigger_spans: dict[str, Trigger] = {}
        inline: dict[str, tuple[list[tuple[int, int]], str]] = {}
        for ann_id, (number, type_, spans, mention, suffix) in p.textbounds.items():
            entity = _at(number, ctx).entity(text, id=ann_id, type=type_, spans=spans, mention=mention,
                                             line=int(number), record_id=doc_id)
            if entity is None:
                continue
            if ann_id in triggers:
                trigger_spans[ann_id] = Trigger(offsets=entity.offsets, text=entity.text)
            elif suffix == ".a2" and opts.a2_textbounds == "secondary" and ann_id not in relation_args:
                if ann_id in event_args:
                    inline[ann_id] = (entity.offsets, " ".join(entity.text))
                else:
                    _reject_at(number, ctx, f".a2 text-bound {ann_id} ({type_}) is neither a trigger nor an event or "
                               "relation argument; BioNLP-ST entities come from .a1 (set a2_textbounds: entities to "
                               "keep it)", record_id=doc_id, field="textbound", action="dropped")
            else:
                entities[ann_id] = entity
        for number, target, db, ident in p.normalizations:
            if target in entities and ident:
                entities[target].normalized.append(Normalization(db_name=db, db_id=ident))
            else:
                _reject_at(number, ctx, f"normalization of unknown or dropped annotation {target!r}",
                           record_id=doc_id, field="normalization", action="dropped")
        # events may refer to events defined later, and a dropped argument drops its event: resolve to a fixpoint
        pending = {ann_id: (number, type_, trigger, args) for number, ann_id, type_, trigger, args in p.events}
        events: dict[str, Event] = {}
        changed = True
        while changed:
            changed = False
            for ann_id, (number, type_, trigger, args) in list(pending.items()):
                unresolved = [a for _, a in args if a not in entities and a not in inline and a not in events]
                if any(a in pending for a in unresolved):
                    continue
                del pending[ann_id]
                changed = True
                if unresolved or trigger not in trigger_spans:
                    missing = unresolved or [trigger]
                    _reject_at(number, ctx, f"event {ann_id} refers to missing or dropped annotation(s) {missing}",
                               record_id=doc_id, field="event", action="dropped")
                    continue
                arguments = [EventArgument(role=role, text=inline[a][1], offsets=inline[a][0]) if a in inline
                             else EventArgument(role=role, ref_id=a) for role, a in args]
                events[ann_id] = Event(id=ann_id, type=type_, trigger=trigger_spans[trigger], arguments=arguments)
        for ann_id, (number, *_rest) in pending.items():
            _reject_at(number, ctx, f"event {ann_id} is part of a cycle of events", record_id=doc_id, field="event",
                       action="dropped")
        for number, name, target, value in p.attributes:
            if target in events:
                events[target].attributes[name] = value
            elif target in entities:
                entities[target].attributes[name] = value
            else:
                _reject_at(number, ctx, f"attribute {name} of unknown or dropped annotation {target!r}",
                           record_id=doc_id, field="attribute", action="dropped")
        relations: list[Relation] = []
        coreferences: list[Coreference] = []
        for number, ann_id, type_, args in p.relations:
            ids = [a for _, a in args]
            missing = [a for a in ids if a not in entities and a not in events]
            if missing:
                _reject_at(number, ctx, f"relation {ann_id} refers to missing or dropped annotation(s) {missing}",
                           record_id=doc_id, field="relation", action="dropped")
            elif type_ in opts.coreference_relations:
                coreferences.append(Coreference(id=ann_id, entity_ids=ids))
            else:
                relations.append(Relation(id=ann_id, type=type_, arg1_id=ids[0], arg2_id=ids[1]))
        if opts.equivalences == "coreferences":
            for number, ids in p.equivs:
                kept = [a for a in ids if a in entities]
                if len(kept) < len(ids):
                    _reject_at(number, ctx, f"equivalence {ids} refers to missing or dropped annotations",
                               record_id=doc_id, field="equivalence", action="dropped" if len(kept) < 2 else "repaired")
                if len(kept) >= 2:
                    coreferences.append(Coreference(id=f"*{len(coreferences)}", entity_ids=kept))
        return ctx.make(IEDocument, record_id=doc_id, id=ctx.unique_id(doc_id), document_id=doc_id,
                        split=ctx.split, text=text, passages=_passages(text, opts.passages),
                        entities=list(entities.values()), relations=relations, events=list(events.values()),
                        coreferences=coreferences, stats=_source_counts(p))


def _source_counts(p: _Parsed) -> dict[str, int]:
    """What the annotation files held, before any check: SOURCE.md-style counts for ``curate validate``."""
    counts = {"textbounds": len(p.textbounds), "modifications": p.modifications, "equivalences": len(p.equivs)}
    return {key: n for key, n in counts.items() if n}


def _nonempty(path: str) -> bool:
    """An existing annotation file may be empty (a document without annotations): that is not an error."""
    from curate.readers.base import open_bytes

    try:
        return bool(open_bytes(path).strip())
    except OSError:
        return True


def _passages(text: str, mode: str) -> list[Passage]:
    if mode == "document":
        return [Passage(id="p0", type="document", offsets=[(0, len(text))])]
    passages: list[Passage] = []
    start = 0
    for line in text.split("\n"):
        end = start + len(line)
        if line.strip():
            kind = "title" if not passages else "paragraph"
            passages.append(Passage(id=f"p{len(passages)}", type=kind, offsets=[(start, end)]))
        start = end + 1
    return passages
