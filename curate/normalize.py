"""Text normalization before examples are made: Traditional to Simplified Chinese with OpenCC.

Conversion can change a text's length (phrase mappings), so an IE document is converted piece by
piece between every span boundary and all offsets are remapped: every entity still matches its text.
"""

from __future__ import annotations

import itertools
import re
from functools import cache
from typing import Any

from curate.catalog import DatasetEntry
from curate.readers.base import ReadContext

# identifiers and raw labels are keys into the catalog: never converted
_KEEP_KEYS = frozenset({"id", "document_id", "split", "kind", "qa_type", "subtask", "role", "label", "labels"})
_CJK = re.compile(r"[\u4e00-\u9fff]")


@cache
def _converter(config: str = "t2s") -> Any:
    import opencc

    return opencc.OpenCC(f"{config}.json" if not config.endswith(".json") else config)


def to_simplified(text: str, config: str = "t2s") -> str:
    return _converter(config).convert(text) if text else text


def looks_traditional(text: str, sample: int = 2000) -> bool:
    """True when converting a sample to Simplified changes at least 2% of its Chinese characters."""
    head = text[:sample]
    chinese = len(_CJK.findall(head))
    if chinese < 10:
        return False
    converted = to_simplified(head)
    if len(head) != len(converted):
        return True
    changed = sum(1 for a, b in zip(head, converted, strict=True) if a != b)
    return changed / chinese >= 0.02


def _wants_conversion(entry: DatasetEntry, sample: str) -> bool:
    if entry.language != "zh":
        return False
    if entry.traditional_chinese == "detect":
        return looks_traditional(sample)
    return bool(entry.traditional_chinese)


def convert_with_offsets(text: str, boundaries: set[int], config: str = "t2s") -> tuple[str, dict[int, int]]:
    """Convert ``text`` piecewise between ``boundaries``; return it and the old->new offset map."""
    cuts = sorted({0, len(text), *(b for b in boundaries if 0 <= b <= len(text))})
    mapping = {0: 0}
    pieces = []
    position = 0
    for start, end in itertools.pairwise(cuts):
        piece = to_simplified(text[start:end], config)
        pieces.append(piece)
        position += len(piece)
        mapping[end] = position
    return "".join(pieces), mapping


def _simplify_ie(doc: Any, config: str = "t2s") -> Any:
    boundaries: set[int] = set()
    for passage in doc.passages:
        for s, e in passage.offsets:
            boundaries.update((s, e))
    for entity in doc.entities:
        for s, e in entity.offsets:
            boundaries.update((s, e))
    for event in doc.events:
        if event.trigger is not None:
            for s, e in event.trigger.offsets:
                boundaries.update((s, e))
        for argument in event.arguments:  # BioNLP-ST secondary arguments (Site, ToLoc) carry offsets
            for s, e in argument.offsets:
                boundaries.update((s, e))
    text, at = convert_with_offsets(doc.text, boundaries, config)
    data = doc.model_dump()
    data["text"] = text
    for passage in data["passages"]:
        passage["offsets"] = [(at[s], at[e]) for s, e in passage["offsets"]]
    for entity in data["entities"]:
        entity["offsets"] = [(at[s], at[e]) for s, e in entity["offsets"]]
        entity["text"] = [text[s:e] for s, e in entity["offsets"]]
    for event in data["events"]:
        if event["trigger"] is not None:
            event["trigger"]["offsets"] = [(at[s], at[e]) for s, e in event["trigger"]["offsets"]]
            event["trigger"]["text"] = [text[s:e] for s, e in event["trigger"]["offsets"]]
        for argument in event["arguments"]:
            if argument["offsets"]:
                argument["offsets"] = [(at[s], at[e]) for s, e in argument["offsets"]]
                argument["text"] = " ".join(text[s:e] for s, e in argument["offsets"])
    return type(doc).model_validate(data)


def _simplify_strings(value: Any, config: str) -> Any:
    if isinstance(value, str):
        return to_simplified(value, config)
    if isinstance(value, list):
        return [_simplify_strings(v, config) for v in value]
    if isinstance(value, dict):
        return {k: (v if k in _KEEP_KEYS else _simplify_strings(v, config)) for k, v in value.items()}
    return value


def _sample_text(doc: Any) -> str:
    for name in ("text", "question", "input", "text_1"):
        value = getattr(doc, name, None)
        if isinstance(value, str) and value:
            return value
    if doc.kind == "dialogue":
        return "".join(t.content for t in doc.turns)
    if doc.kind == "mt":
        return doc.texts.get("zh", "")
    return ""


def normalize_document(doc: Any, entry: DatasetEntry, ctx: ReadContext) -> Any:
    """Convert a Traditional-Chinese document to Simplified (declared per dataset, or detected)."""
    if not _wants_conversion(entry, _sample_text(doc)):
        return doc
    try:
        config = entry.opencc_config
        if doc.kind == "ie":
            return _simplify_ie(doc, config)
        data = _simplify_strings(doc.model_dump(), config)
        if doc.kind == "mt":  # only the Chinese side of a translation pair
            data["texts"] = {k: (to_simplified(v, config) if k == "zh" else v) for k, v in doc.texts.items()}
        return type(doc).model_validate(data)
    except Exception as exc:  # a document that cannot be converted is rejected, never lost silently
        ctx.reject(f"Traditional-to-Simplified conversion failed: {exc}", record_id=doc.document_id,
                   field="(opencc)")
        return None
