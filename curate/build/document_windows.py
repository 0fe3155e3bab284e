"""Length budget for IE documents: split a long text into sentence windows, offsets remapped.

A window ends at a sentence end that cuts no entity; annotations that still cross a window (a
relation whose arguments fall in two windows, a sentence longer than the budget that must be cut)
are dropped and reported, never silently lost.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from functools import cache
from itertools import accumulate
from typing import Any

from curate.readers.base import ReadContext
from curate.sentences import candidate_ends, is_sentence_end
from schemas.documents import IEDocument

MAX_CANDIDATES_TRIED = 16  # per window, from its end backwards: bounds the sentence checks of a window
# pySBD confirms sentence ends in texts up to this length (full-text articles); a longer text (a dump, a corpus
# glued into one record) ends its windows at the rule-based candidates alone: about 1 ms per pySBD check would
# make a 50 MB text take minutes, and such a text is an accident, not prose worth the care
CONFIRMED_UP_TO_CHARS = 1_000_000


@cache
def windowing_fingerprint() -> str:
    """A hash of the window code and the pySBD version: cached conversions windowed by older rules are not reused."""
    import hashlib
    from importlib.metadata import version
    from pathlib import Path

    from curate import sentences

    digest = hashlib.sha256(version("pysbd").encode())
    for path in (Path(__file__), Path(sentences.__file__)):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _cuts(doc: IEDocument) -> list[int]:
    """Candidate sentence ends (curate.sentences) that fall inside no entity or trigger span, in increasing order.

    A position p is inside a span (s, e) when s < p < e: with spans sorted by start and the running maximum
    of their ends, one bisection per sentence end answers that (linear in the text, not in span lengths)."""
    spans = sorted((s, e) for ent in doc.entities for s, e in ent.offsets)
    spans += sorted((s, e) for ev in doc.events if ev.trigger for s, e in ev.trigger.offsets)
    spans.sort()
    starts = [s for s, _ in spans]
    reach = list(accumulate((e for _, e in spans), max))  # reach[i]: the furthest end of spans[0..i]
    cuts = []
    n = len(doc.text)
    for p in candidate_ends(doc.text):
        if not 0 < p < n:
            continue
        before = bisect_left(starts, p)  # spans starting before p
        if before and reach[before - 1] > p:
            continue
        if not cuts or cuts[-1] != p:
            cuts.append(p)
    return cuts


def _window_end(text: str, cuts: list[int], start: int, max_chars: int) -> int:
    """The last cut in ``(start, start + max_chars]`` that is a true sentence end, trying at most
    ``MAX_CANDIDATES_TRIED`` from the back (none past ``CONFIRMED_UP_TO_CHARS``); else the last cut there (a
    rule-based end beats cutting a word), else a hard cut."""
    last = bisect_right(cuts, start + max_chars) - 1
    tried = MAX_CANDIDATES_TRIED if len(text) <= CONFIRMED_UP_TO_CHARS else 0
    first_tried = max(last - tried + 1, bisect_right(cuts, start))
    for index in range(last, first_tried - 1, -1):
        if is_sentence_end(text, cuts[index]):
            return cuts[index]
    return cuts[last] if last >= 0 and cuts[last] > start else start + max_chars


def _bounds(text: str, cuts: list[int], max_chars: int) -> list[tuple[int, int]]:
    """Windows of at most ``max_chars``, each ending at the last sentence end that fits (see ``_window_end``)."""
    bounds = []
    start = 0
    n = len(text)
    while start < n:
        if n - start <= max_chars:
            bounds.append((start, n))
            break
        end = _window_end(text, cuts, start, max_chars)
        bounds.append((start, end))
        start = end
    return bounds


def window_bounds(doc: IEDocument, max_chars: int) -> list[tuple[int, int]]:
    """The ``(start, end)`` of each window of ``doc`` (one window when the text fits)."""
    return _bounds(doc.text, _cuts(doc), max_chars)


def _window_of(spans: list[tuple[int, int]], bounds: list[tuple[int, int]], starts: list[int]) -> int | None:
    """The window that holds every span (the later one where a span sits on a boundary), or None."""
    if not spans:
        return len(bounds) - 1
    index = bisect_right(starts, min(s for s, _ in spans)) - 1
    if index < 0:
        return None
    ws, we = bounds[index]
    return index if all(ws <= s and e <= we for s, e in spans) else None


def split_long_document(doc: IEDocument, max_chars: int, ctx: ReadContext) -> list[IEDocument]:
    """The document itself when it fits, else its windows (ids ``<id>#w<n>``). Linear in the text and the
    annotations: every annotation is placed in its window once, by bisection."""
    if len(doc.text) <= max_chars:
        return [doc]
    bounds = window_bounds(doc, max_chars)
    starts = [ws for ws, _ in bounds]
    placed: dict[str, int] = {}
    entities_in: dict[int, list[Any]] = defaultdict(list)
    events_in: dict[int, list[Any]] = defaultdict(list)
    for entity in doc.entities:
        index = _window_of(list(entity.offsets), bounds, starts)
        if index is not None:
            placed[entity.id] = index
    for event in doc.events:
        spans = list(event.trigger.offsets) if event.trigger else []
        if spans:
            index = _window_of(spans, bounds, starts)
        else:  # no trigger: the window that holds every entity it refers to
            windows = {placed.get(a.ref_id) for a in event.arguments if a.ref_id}
            index = windows.pop() if len(windows) == 1 else None
        if index is not None:
            placed[event.id] = index
    for entity in doc.entities:
        if entity.id in placed:
            entities_in[placed[entity.id]].append(entity)
        else:
            ctx.reject(f"entity {entity.id} crosses a window boundary of a text longer than {max_chars} characters",
                       record_id=doc.document_id, field="entities", action="over_budget")
    for event in doc.events:
        if event.id in placed:
            events_in[placed[event.id]].append(event)
        else:
            where = "its trigger crosses a window boundary" if event.trigger else \
                "it has no trigger and its arguments are not all in one window"
            ctx.reject(f"event {event.id} ({event.type}) dropped: {where} of a text longer than {max_chars} "
                       "characters", record_id=doc.document_id, field="events", action="over_budget")
    relations_in: dict[int, list[Any]] = defaultdict(list)
    for relation in doc.relations:
        where = placed.get(relation.arg1_id)
        if where is not None and where == placed.get(relation.arg2_id):
            relations_in[where].append(relation)
    corefs_in: dict[int, list[Any]] = defaultdict(list)
    for coref in doc.coreferences:
        per_window = Counter(placed.get(e) for e in coref.entity_ids)
        for where in sorted(w for w, n in per_window.items() if w is not None and n >= 2):
            corefs_in[where].append(coref)
    windows: list[IEDocument] = []
    for index, (ws, we) in enumerate(bounds):
        data: dict[str, Any] = {"id": f"{doc.id}#w{index}", "document_id": doc.document_id, "split": doc.split,
                                "text": doc.text[ws:we], "passages": [{"id": f"w{index}", "type": "window",
                                                                       "offsets": [(0, we - ws)]}]}
        data["entities"] = [{**e.model_dump(), "offsets": [(s - ws, t - ws) for s, t in e.offsets]}
                            for e in entities_in.get(index, [])]
        events = []
        for event in events_in.get(index, []):
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
        data["relations"] = [r.model_dump() for r in relations_in.get(index, [])]
        data["coreferences"] = [c.model_dump() for c in corefs_in.get(index, [])]
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
