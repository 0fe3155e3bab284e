"""Length budget for IE documents: split a long text into sentence windows, offsets remapped.

A window ends at a sentence end that cuts no entity; annotations that still cross a window (a
relation whose arguments fall in two windows, a sentence longer than the budget that must be cut)
are dropped and reported, never silently lost.
"""

from __future__ import annotations

import re
from typing import Any

from curate.readers.base import ReadContext
from schemas.documents import IEDocument

_SENTENCE_END = re.compile(r"(?<=[.!?。！？；;])\s*|\n+")


def _cuts(doc: IEDocument) -> list[int]:
    """Positions after a sentence end that fall inside no entity or trigger span."""
    spans = [(s, e) for ent in doc.entities for s, e in ent.offsets]
    spans += [(s, e) for ev in doc.events if ev.trigger for s, e in ev.trigger.offsets]
    inside = set()
    for s, e in spans:
        inside.update(range(s + 1, e))
    return [m.end() for m in _SENTENCE_END.finditer(doc.text) if 0 < m.end() < len(doc.text) and m.end() not in inside]


def window_bounds(doc: IEDocument, max_chars: int) -> list[tuple[int, int]]:
    cuts = _cuts(doc)
    bounds = []
    start = 0
    n = len(doc.text)
    while start < n:
        if n - start <= max_chars:
            bounds.append((start, n))
            break
        fitting = [c for c in cuts if start < c <= start + max_chars]
        end = fitting[-1] if fitting else start + max_chars  # no sentence end fits: hard cut
        bounds.append((start, end))
        start = end
    return bounds


def split_long_document(doc: IEDocument, max_chars: int, ctx: ReadContext) -> list[IEDocument]:
    """The document itself when it fits, else its windows (ids ``<id>#w<n>``)."""
    if len(doc.text) <= max_chars:
        return [doc]
    windows: list[IEDocument] = []
    placed: dict[str, int] = {}
    for index, (ws, we) in enumerate(window_bounds(doc, max_chars)):
        for entity in doc.entities:
            if all(ws <= s and e <= we for s, e in entity.offsets):
                placed[entity.id] = index
    for event in doc.events:
        spans = list(event.trigger.offsets) if event.trigger else []
        for index, (ws, we) in enumerate(window_bounds(doc, max_chars)):
            if spans and all(ws <= s and e <= we for s, e in spans):
                placed[event.id] = index
    for entity in doc.entities:
        if entity.id not in placed:
            ctx.reject(f"entity {entity.id} crosses a window boundary of a text longer than {max_chars} characters",
                       record_id=doc.document_id, field="entities", action="over_budget")
    for index, (ws, we) in enumerate(window_bounds(doc, max_chars)):
        data: dict[str, Any] = {"id": f"{doc.id}#w{index}", "document_id": doc.document_id, "split": doc.split,
                                "text": doc.text[ws:we], "passages": [{"id": f"w{index}", "type": "window",
                                                                       "offsets": [(0, we - ws)]}]}
        data["entities"] = [{**e.model_dump(), "offsets": [(s - ws, t - ws) for s, t in e.offsets]}
                            for e in doc.entities if placed.get(e.id) == index]
        events = []
        for event in doc.events:
            if placed.get(event.id) != index:
                continue
            dumped = event.model_dump()
            if dumped["trigger"]:
                dumped["trigger"]["offsets"] = [(s - ws, t - ws) for s, t in dumped["trigger"]["offsets"]]
            args = [a for a in dumped["arguments"] if not a["ref_id"] or placed.get(a["ref_id"]) == index]
            for a in args:
                a["offsets"] = [(s - ws, t - ws) for s, t in a.get("offsets", [])]
            if len(args) < len(dumped["arguments"]):
                ctx.reject(f"event {event.id}: arguments in another window dropped", record_id=doc.document_id,
                           field="events", action="over_budget")
            dumped["arguments"] = args
            events.append(dumped)
        data["events"] = events
        data["relations"] = [r.model_dump() for r in doc.relations
                             if placed.get(r.arg1_id) == index and placed.get(r.arg2_id) == index]
        data["coreferences"] = [c.model_dump() for c in doc.coreferences
                                if sum(placed.get(e) == index for e in c.entity_ids) >= 2]
        for c in data["coreferences"]:
            c["entity_ids"] = [e for e in c["entity_ids"] if placed.get(e) == index]
        data["stats"] = {}
        window = ctx.make(IEDocument, record_id=doc.document_id, **data)
        if window is not None:
            windows.append(window)
    for relation in doc.relations:
        if placed.get(relation.arg1_id) is None or placed.get(relation.arg1_id) != placed.get(relation.arg2_id):
            ctx.reject(f"relation {relation.id} ({relation.type}) spans two windows of a long text",
                       record_id=doc.document_id, field="relations", action="over_budget")
    return windows
