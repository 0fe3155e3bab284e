"""Sentence ends for long-document windows: cheap candidates by rule, English ones confirmed by pySBD.

A candidate is a run of sentence punctuation (closing quotes and brackets kept with it, trailing white space
included; an ASCII mark only when white space follows) or a line break. Where the punctuation is Chinese
(。！？；) the candidate is a sentence end as it stands: these marks are unambiguous, and pySBD's Chinese rules
cut before a closing quote (``“他说。”`` becomes ``“他说。`` + ``”``) and inside URLs, which this rule does
not. A line break is a sentence end as before (PubTator titles, one-sentence-per-line corpora). An ASCII
``.``, ``!``, ``?`` or ``;`` is only a sentence end when pySBD (rule-based, offline; "e.g.", "i.e.",
"Fig. 1", "vs.", "et al.", "Dr.", "3.5", "p < 0.05." handled) ends a segment there, judged on a bounded
piece of text around it: pySBD's time grows faster than its input, so windows ask about a few candidates
near each window end only, which keeps a 50 MB document linear.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any

_CLOSERS = "\"'”’」』）)\\]"
# Chinese marks end a sentence with or without white space; ASCII ones only before white space (never inside
# "e.g." or "3.5"); a run of line breaks always.
_CANDIDATE = re.compile(rf"[。！？；]+[{_CLOSERS}]*\s*|[.!?;]+[{_CLOSERS}]*\s+|\n+")
_CHINESE_END = frozenset("。！？；")
_CONTEXT_BEFORE = 200  # characters pySBD sees before a candidate (the abbreviation and its sentence)
_CONTEXT_AFTER = 80  # and after it (the next word decides "Fig. 1" against "fig. The")


@cache
def _segmenter() -> Any:
    """One English pySBD segmenter per process (non-destructive, with character spans)."""
    import pysbd

    return pysbd.Segmenter(language="en", clean=False, char_span=True)


def candidate_ends(text: str) -> Iterator[int]:
    """Positions after each run of sentence punctuation (and its white space) or line breaks, increasing."""
    for match in _CANDIDATE.finditer(text):
        yield match.end()


def _needs_confirmation(text: str, pos: int) -> bool:
    """Whether the candidate ending at ``pos`` rests on ASCII punctuation alone (no Chinese mark, no line break)."""
    start = pos
    while start > 0 and text[start - 1].isspace():
        if text[start - 1] == "\n":
            return False
        start -= 1
    while start > 0 and text[start - 1] in _CLOSERS:
        start -= 1
    return start == 0 or text[start - 1] not in _CHINESE_END


def is_sentence_end(text: str, pos: int) -> bool:
    """Whether the candidate ``pos`` (from :func:`candidate_ends`) is a true sentence end. Cost bounded by the
    context window, whatever the length of ``text``."""
    if not _needs_confirmation(text, pos):
        return True
    lo = max(0, pos - _CONTEXT_BEFORE)
    hi = min(len(text), pos + _CONTEXT_AFTER)
    if hi <= pos:  # the end of the text ends a sentence
        return True
    return any(lo + span.end == pos for span in _segmenter().segment(text[lo:hi]))


def sentence_ends(text: str) -> list[int]:
    """Every sentence end of ``text`` (positions after the sentence and its trailing white space). For tests and
    short texts: windows confirm only the candidates they need."""
    return [pos for pos in candidate_ends(text) if 0 < pos < len(text) and is_sentence_end(text, pos)]
