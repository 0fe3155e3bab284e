"""Optional quality filters; each names what it found, and the build turns that into a reject.

Two kinds: checks of an example's source text (language mismatch, mojibake), made once per document
while phase 1 converts a training split, and checks of a rendered record (empty or degenerate response,
a response that copies the prompt, too short or too long for its task), made where records are rendered.
Settings live in the catalog's ``output.quality`` (see docs/catalog.md); every filter is off by default.
"""

from __future__ import annotations

import re
from typing import Any

from curate.catalog import QualityFilters
from curate.decontam import TOKEN as _WORD  # a word as n-grams count it: CJK characters alone

_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# UTF-8 read as Latin-1/cp1252: a lead byte's character (Ã, Â, â, Ð, Ñ, ...) followed by a continuation
# byte's character (U+0080-U+00BF, or cp1252's curly quotes, dashes and euro sign); and the replacement sign
_MOJIBAKE = re.compile(r"[\u00c2-\u00c3\u00ce-\u00d0][\u0080-\u00bf\u2018-\u201e\u2020-\u2022\u2026\u20ac\u2122]"
                       r"|\u00e2\u20ac[\u0080-\u00bf\u2018-\u201e\u2020-\u2022\u2026\u2122\u0153\u009d]|\ufffd")


def document_problem(text: str, language: str, filters: QualityFilters) -> str | None:
    """Why a training document's source text is rejected, or None."""
    plain = text.isascii()  # (one C-level pass) no mojibake and no Chinese character in a plain-ASCII text
    if filters.mojibake and not plain:
        found = _MOJIBAKE.search(text)
        if found:
            return f"quality: mojibake {found.group()!r} at character {found.start()}"
    if filters.language_mismatch is not None and (language == "zh" or (language == "en" and not plain)):
        # words of Latin letters against Chinese characters: one token each, as n-grams count them; the
        # other script is counted first, and a text without any is done (the usual case: one scan)
        other_script, own_script = (_LATIN_WORD, _CJK) if language == "zh" else (_CJK, _LATIN_WORD)
        other = len(other_script.findall(text))
        total = other + len(own_script.findall(text)) if other else 0
        if total >= 5 and other / total > filters.language_mismatch:
            kind = "Latin words" if language == "zh" else "Chinese characters"
            return (f"quality: language mismatch: {other / total:.0%} of the words are {kind} in a "
                    f"{language} dataset (output.quality.language_mismatch {filters.language_mismatch})")
    return None


def record_problem(task: str, messages: list[dict[str, Any]], filters: QualityFilters,
                   size: int | None = None) -> str | None:
    """Why a rendered training record is rejected, or None. ``messages``: the conversation, whose last
    message is the response, the one before it the prompt; ``size``: its characters, where the caller
    counted them already."""
    response = str(messages[-1]["content"]) if messages else ""
    prompt = str(messages[-2]["content"]) if len(messages) > 1 else ""  # the question the response answers
    if filters.degenerate_responses:
        if not response.strip():
            return "quality: empty response"
        first = _WORD.search(response)
        if first is None:
            return "quality: degenerate response: only punctuation"
        # one word repeated, case aside. Most responses differ in their first two words: only a response whose
        # second word folds to its first is split into all its words
        second = _WORD.search(response, first.end())
        if second is not None and second.group().casefold() == first.group().casefold():
            words = _WORD.findall(response)
            if len(words) >= 3 and len(distinct := set(words)) <= 4 and len({w.casefold() for w in distinct}) == 1:
                return f"quality: degenerate response: {words[0].casefold()!r} repeated {len(words)} times"
    # (a response shorter than 20 characters, or without the prompt's first word, copies nothing)
    head = prompt.split(None, 1)[:1]
    if filters.copied_prompt and len(response) >= 20 and head and head[0] in response:
        body = " ".join(prompt.split())
        if 20 <= len(body) <= len(response) and body in " ".join(response.split()):
            return "quality: the response copies the whole prompt"
    low, high = filters.min_chars.get(task), filters.max_chars.get(task)
    if low is None and high is None:
        return None
    if size is None:
        size = sum([len(str(m["content"])) for m in messages])  # as output.max_chars counts
    if low is not None and size < low:
        return f"quality: too short for {task}: {size} characters < output.quality.min_chars.{task} {low}"
    if high is not None and size > high:
        return f"quality: too long for {task}: {size} characters > output.quality.max_chars.{task} {high}"
    return None
