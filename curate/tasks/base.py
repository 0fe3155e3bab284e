"""What every task family shares: the example between reading and rendering, and the Task contract.

A task turns a schema document into examples (phase 1), shows an example's fields to a template
and writes its answer in a named, parseable format (phase 2), and parses a model's answer back
into the same structure (``curate eval``). Rendering and parsing live side by side so that
``parse(render(gold)) == gold`` can be tested for every format.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel

from curate.catalog import DatasetEntry

Gold = Any  # a JSON-serializable structure, canonical (sorted) so equality means the same answer


@dataclass
class Example:
    """A unit of training data before a template is applied: prompt fields and the gold answer."""

    example_id: str
    dataset: str
    split: str
    task: str
    subtask: str
    source_lang: str
    document_id: str
    source_file: str
    fields: dict[str, Any]
    gold: Gold
    text_for_decontam: str = ""

    def to_row(self) -> dict[str, Any]:
        return {
            "example_id": self.example_id, "dataset": self.dataset, "split": self.split, "task": self.task,
            "subtask": self.subtask, "source_lang": self.source_lang, "document_id": self.document_id,
            "source_file": self.source_file, "fields": canonical_json(self.fields),
            "gold": canonical_json(self.gold), "text_for_decontam": self.text_for_decontam,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Example:
        known = {k: v for k, v in row.items() if k in cls.__dataclass_fields__}
        return cls(**{**known, "fields": json.loads(row["fields"]), "gold": json.loads(row["gold"])})


@dataclass
class LabelView:
    """Raw labels and their display names in one language, with a tolerant reverse lookup."""

    raw: list[str]
    shown: list[str]
    _back: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for raw, shown in zip(self.raw, self.shown, strict=True):
            self._back.setdefault(normalize_answer(shown), raw)
            self._back.setdefault(normalize_answer(raw), raw)

    @classmethod
    def of(cls, entry: DatasetEntry, raw: list[str], lang: str) -> LabelView:
        """The view of ``raw`` labels in ``lang``; cached, since a build asks for the same views again and again."""
        key = (entry.fingerprint(), tuple(raw), lang)
        view = _VIEWS.get(key)
        if view is None:
            view = _VIEWS[key] = cls(list(raw), [entry.label(r, lang) for r in raw])
        return view

    def show(self, raw: str) -> str:
        return self.shown[self.raw.index(raw)] if raw in self.raw else raw

    def lookup(self, shown: str) -> str | None:
        return self._back.get(normalize_answer(shown))


_VIEWS: dict[tuple[str, tuple[str, ...], str], LabelView] = {}

_FULLWIDTH = str.maketrans({"：": ":", "；": ";", "，": ",", "（": "(", "）": ")", "【": "[", "】": "]",
                            "［": "[", "］": "]", "。": ".", "　": " ", "“": '"', "”": '"'})


def normalize_answer(text: str) -> str:
    """Fold what models vary without changing meaning: width, case, punctuation form, spacing."""
    text = unicodedata.normalize("NFKC", text).translate(_FULLWIDTH)
    return re.sub(r"\s+", " ", text).strip().strip(".").strip().casefold()


def canonical_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def selection_rank(seed: int, example_id: str) -> int:
    """A 64-bit rank: a stage takes a dataset's examples in increasing rank order."""
    return int(stable_hash(seed, example_id, "select", length=16), 16)


def stable_hash(*parts: object, length: int = 16) -> str:
    blob = "\x1f".join(str(p) for p in parts).encode()
    return hashlib.blake2b(blob, digest_size=16).hexdigest()[:length]


class AnswerFormat:
    """A named way to write and read back a task's answer in one or both languages."""

    name: ClassVar[str] = ""

    def render(self, gold: Gold, fields: dict[str, Any], labels: LabelView, lang: str) -> str:
        raise NotImplementedError

    def parse(self, text: str, fields: dict[str, Any], labels: LabelView, lang: str) -> Gold:
        """Never raises: what cannot be read is left out (and so counts as wrong)."""
        raise NotImplementedError


class Task:
    """A task family. Subclasses define how documents become examples and how answers look."""

    name: ClassVar[str] = ""
    document_kind: ClassVar[str] = ""
    PromptFields: ClassVar[type[BaseModel]]
    formats: ClassVar[dict[str, AnswerFormat]] = {}
    default_format: ClassVar[str] = ""
    metric: ClassVar[str] = "micro_f1"

    def examples(self, doc: Any, entry: DatasetEntry, source_file: str) -> Iterator[Example]:
        raise NotImplementedError

    def labels(self, example: Example, entry: DatasetEntry, lang: str) -> LabelView:
        """The label options of an example in the prompt language (empty when the task has none)."""
        return LabelView.of(entry, example.fields.get("options", []), lang)

    def prompt_fields(self, example: Example, entry: DatasetEntry, lang: str) -> BaseModel:
        raise NotImplementedError

    def format_for(self, example: Example) -> str:
        """The answer format used when a template does not name one."""
        return self.default_format

    def render_answer(self, example: Example, entry: DatasetEntry, lang: str, fmt: str) -> str:
        return self.formats[fmt].render(example.gold, example.fields, self.labels(example, entry, lang), lang)

    def parse_answer(self, text: str, example: Example, entry: DatasetEntry, lang: str, fmt: str) -> Gold:
        try:
            return self.formats[fmt].parse(text, example.fields, self.labels(example, entry, lang), lang)
        except Exception:  # a parser must never take a build or an eval down
            return None

    def new_example(self, doc: Any, entry: DatasetEntry, source_file: str, subtask: str, variant: str,
                    fields: dict[str, Any], gold: Gold, text: str) -> Example:
        return Example(
            example_id=stable_hash(entry.name, doc.split, doc.id, self.name, subtask, variant, length=24),
            dataset=entry.name, split=doc.split, task=self.name, subtask=subtask, source_lang=entry.language,
            document_id=doc.id, source_file=source_file, fields=fields, gold=gold, text_for_decontam=text)


def split_items(text: str) -> list[str]:
    """Split a list answer on ';' (ASCII or full-width), dropping empties."""
    return [p.strip() for p in re.split(r"[;；]", text) if p.strip()]


NONE_WORDS = {"none", "无", "没有", "no entities", "n/a", "null", "无。", "none."}


def is_none_word(text: str) -> bool:
    return normalize_answer(text) in {normalize_answer(w) for w in NONE_WORDS}
