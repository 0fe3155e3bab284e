"""Window splitting of long IE texts: the same windows as the plain definition, in time linear in the text."""

from __future__ import annotations

import random
import time
import tracemalloc

from curate.build.document_windows import CONFIRMED_UP_TO_CHARS, split_long_document, window_bounds
from curate.readers.base import ReadContext
from curate.sentences import candidate_ends, sentence_ends
from schemas.documents import IEDocument


def plain_bounds(text: str, inside: set[int], ends: list[int], max_chars: int) -> list[tuple[int, int]]:
    """The definition: each window ends at the last sentence end (``ends``) that fits and cuts no span, else at
    the last candidate end that does, else hard."""
    cuts = [c for c in ends if c not in inside]
    candidates = [c for c in candidate_ends(text) if 0 < c < len(text) and c not in inside]
    bounds, start = [], 0
    while start < len(text):
        if len(text) - start <= max_chars:
            bounds.append((start, len(text)))
            break
        fitting = [c for c in cuts if start < c <= start + max_chars]
        fitting_candidates = [c for c in candidates if start < c <= start + max_chars]
        end = (fitting or fitting_candidates or [start + max_chars])[-1]
        bounds.append((start, end))
        start = end
    return bounds


def random_doc(rng: random.Random, n_sentences: int) -> tuple[IEDocument, set[int]]:
    pieces, entities, ends = [], [], []
    pos = 0
    for i in range(n_sentences):
        words = " ".join(rng.choice(["Fig.", "e.g.", "Dr.", "3.5"]) if rng.random() < 0.1
                         else rng.choice(["aspirin", "fever", "the", "dose", "was", "given"])
                         for _ in range(rng.randint(1, 30)))
        sentence = words + rng.choice([". ", "! ", "\n", "; ", "。", ". The "])
        if rng.random() < 0.5:
            start = pos + rng.randint(0, len(words) - 1)
            end = min(pos + len(sentence) + rng.randint(0, 40), pos + len(sentence))  # may cover the sentence end
            entities.append({"id": f"T{i}", "type": "x", "offsets": [(start, end)], "text": None})
        pieces.append(sentence)
        pos += len(sentence)
        ends.append(pos)
    text = "".join(pieces)
    for e in entities:
        s, t = e["offsets"][0]
        e["text"] = [text[s:t]]
    inside = {p for e in entities for s, t in e["offsets"] for p in range(s + 1, t)}
    return IEDocument(id="d", document_id="d", split="train", text=text, entities=entities), inside


def test_windows_match_the_plain_definition():
    rng = random.Random(7)
    for _ in range(20):
        doc, inside = random_doc(rng, rng.randint(1, 80))
        ends = sentence_ends(doc.text)
        for max_chars in (50, 120, 400):
            assert window_bounds(doc, max_chars) == plain_bounds(doc.text, inside, ends, max_chars)
            ctx = ReadContext("d", "train", "f")
            windows = split_long_document(doc, max_chars, ctx)
            kept = sum(len(w.entities) for w in windows) if len(doc.text) > max_chars else len(doc.entities)
            assert kept + sum(r.field == "entities" for r in ctx.rejects) == len(doc.entities)  # none vanishes


def long_document(n_chars: int) -> IEDocument:
    sentence = "Aspirin was given at a low dose (e.g. 81 mg vs. 325 mg; Fig. 1) to every patient in the trial. "
    text = sentence * (n_chars // len(sentence))
    entities = [{"id": f"T{i}", "type": "drug", "offsets": [(p, p + 7)], "text": ["Aspirin"]}
                for i, p in enumerate(range(0, len(text), len(sentence) * 1000))]
    return IEDocument(id="big", document_id="big", split="train", text=text, entities=entities)


def test_fifty_megabyte_document_is_split_in_seconds():
    """Past CONFIRMED_UP_TO_CHARS windows end at rule-based candidates alone: linear and quick, no word cut."""
    doc = long_document(50_000_000)
    began = time.perf_counter()
    windows = split_long_document(doc, 2500, ReadContext("d", "train", "f"))
    seconds = time.perf_counter() - began
    assert sum(len(w.text) for w in windows) == len(doc.text)
    assert sum(len(w.entities) for w in windows) == len(doc.entities)
    assert all(w.text.endswith(". ") or w.text.endswith("; ") for w in windows[:-1])  # at candidates, in no word
    assert seconds < 30, seconds


def test_prose_up_to_the_confirmation_limit_ends_windows_at_true_sentence_ends():
    doc = long_document(CONFIRMED_UP_TO_CHARS - 10_000)
    windows = split_long_document(doc, 2500, ReadContext("d", "train", "f"))
    assert sum(len(w.text) for w in windows) == len(doc.text)
    assert all(w.text.endswith("trial. ") for w in windows[:-1])  # sentence ends only, none after "e.g." or "Fig."


def test_window_memory_is_bounded_by_the_text():
    doc = long_document(5_000_000)
    tracemalloc.start()
    windows = split_long_document(doc, 2500, ReadContext("d", "train", "f"))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert sum(len(w.text) for w in windows) == len(doc.text)
    assert peak < 8 * len(doc.text), peak  # the windows' copies of the text and their bookkeeping, not quadratic


def test_window_of_abbreviations_only_ends_at_its_last_candidate():
    """No sentence end among the last MAX_CANDIDATES_TRIED candidates: the last candidate, never a cut in a word."""
    text = "see Fig. 1 vs. Fig. 2, e.g. Dr. Smith et al. and " * 40
    doc = IEDocument(id="a", document_id="a", split="train", text=text)
    bounds = window_bounds(doc, 300)
    assert all(text[end - 1] == " " for _, end in bounds[:-1])
    assert [end for _, end in bounds[:-1]] == [max(c for c in candidate_ends(text) if c <= start + 300)
                                               for start, _ in bounds[:-1]]


def test_events_of_a_split_document_are_kept_or_rejected_never_lost():
    """A trigger-less event goes with the entities it refers to; one that fits no window is a named reject."""
    sentence = "Aspirin was given at a low dose to every patient in the trial. "
    text = sentence * 20  # 1,260 characters: windows of at most 300
    late = len(sentence) * 15  # an entity well inside a later window
    entities = [{"id": "T1", "type": "drug", "offsets": [(0, 7)], "text": ["Aspirin"]},
                {"id": "T2", "type": "drug", "offsets": [(late, late + 7)], "text": ["Aspirin"]}]
    events = [
        {"id": "E1", "type": "Treat", "arguments": [{"role": "Theme", "ref_id": "T2"}]},  # no trigger: with T2
        {"id": "E2", "type": "Treat", "arguments": [{"role": "Theme", "ref_id": "T1"},
                                                     {"role": "Cause", "ref_id": "T2"}]},  # no trigger, two windows
        {"id": "E3", "type": "Treat", "trigger": {"offsets": [(8, 11)], "text": [text[8:11]]}},  # "was"
        {"id": "E4", "type": "Treat", "trigger": {"offsets": [(100, 450)], "text": [text[100:450]]}},  # too long
    ]
    doc = IEDocument(id="ev", document_id="ev", split="train", text=text, entities=entities, events=events)
    ctx = ReadContext("d", "train", "f")
    windows = split_long_document(doc, 300, ctx)
    kept = {e.id: w.id for w in windows for e in w.events}
    t2_window = next(w.id for w in windows for e in w.entities if e.id == "T2")
    assert kept["E1"] == t2_window and "E3" in kept
    rejected = [r for r in ctx.rejects if r.field == "events"]
    assert len(kept) + len(rejected) == len(events)
    reasons = sorted(r.reason for r in rejected)
    assert "E2" in reasons[0] and "no trigger" in reasons[0] and "E4" in reasons[1] and "crosses" in reasons[1]
