"""What every task family shares: the example between reading and rendering, and the Task contract.

A task turns a schema document into examples (phase 1), shows an example's fields to a template
and writes its answer in a named, parseable format (phase 2), and parses a model's answer back
into the same structure (``curate eval``). Rendering and parsing live side by side so that
``parse(render(gold)) == gold`` can be tested for every format.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any, ClassVar

import numpy as np
import orjson
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

    def to_row(self, with_fields: bool = True) -> dict[str, Any]:
        return {
            "example_id": self.example_id, "dataset": self.dataset, "split": self.split, "task": self.task,
            "subtask": self.subtask, "source_lang": self.source_lang, "document_id": self.document_id,
            "source_file": self.source_file, "fields": canonical_json(self.fields) if with_fields else None,
            "gold": canonical_json(self.gold), "text_for_decontam": self.text_for_decontam,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Example:
        known = {k: v for k, v in row.items() if k in cls.__dataclass_fields__}
        return cls(**{**known, "fields": orjson.loads(row["fields"]), "gold": orjson.loads(row["gold"])})


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
        """The view of ``raw`` labels in ``lang``; names that two labels share get the raw label added
        (``prognosis (预后)``), so that every answer reads back to one label. Cached, since a build asks for
        the same views again and again."""
        key = (entry.fingerprint(), tuple(raw), lang)
        view = _VIEWS.get(key)
        if view is None:
            shown = [entry.label(r, lang) for r in raw]
            counts = Counter(normalize_answer(s) for s in shown)
            view = _VIEWS[key] = cls(list(raw), [f"{s} ({r})" if counts[normalize_answer(s)] > 1 and s != r else s
                                                 for r, s in zip(raw, shown, strict=True)])
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
    """Compact JSON with sorted keys and raw UTF-8: the same bytes as ``json.dumps(value, ensure_ascii=False,
    sort_keys=True, separators=(",", ":"))``, from orjson, which is an order of magnitude faster."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()


def selection_rank(seed: int, example_id: str) -> int:
    """A 64-bit rank: a stage takes a dataset's examples in increasing rank order."""
    return int(selection_ranks(seed, [example_id])[0])


_HEX_HEAD = re.compile(r"[0-9a-fA-F]{16}")


def selection_ranks(seed: int, example_ids: list[str]) -> np.ndarray:
    """The ranks of many examples at once (uint64). An example id is a hash of stable parts already
    (``Task.new_example``), so its rank is its first 64 bits mixed with a key drawn from the seed by
    splitmix64's finaliser, a bijection with full avalanche: other seeds give unrelated orders, and no
    id is hashed again (that cost about 1 µs per example). Ids that do not start with 16 hex digits
    (examples made by hand) are hashed first."""
    heads = "".join(i[:16] for i in example_ids)
    try:
        bits = np.frombuffer(bytes.fromhex(heads), dtype=">u8").astype(np.uint64)
    except ValueError:
        bits = np.empty(0, dtype=np.uint64)
    if len(bits) != len(example_ids):  # some id is not a hex hash: decide id by id
        bits = np.array([_id_bits(i) for i in example_ids], dtype=np.uint64)
    x = bits ^ np.uint64(_seed_key(seed))
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def _id_bits(example_id: str) -> int:
    if _HEX_HEAD.fullmatch(example_id[:16]):
        return int(example_id[:16], 16)
    return int.from_bytes(hashlib.blake2b(example_id.encode(), digest_size=8).digest(), "big")


@cache
def _seed_key(seed: int) -> int:
    return int(stable_hash(seed, "select", length=16), 16)


def stable_hash(*parts: object, length: int = 16) -> str:
    blob = "\x1f".join(map(str, parts)).encode()
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
    subtasks: ClassVar[tuple[str, ...]] = ()  # every subtask the task's examples can carry
    document_kind: ClassVar[str] = ""
    PromptFields: ClassVar[type[BaseModel]]
    formats: ClassVar[dict[str, AnswerFormat]] = {}
    default_format: ClassVar[str] = ""
    metric: ClassVar[str] = "micro_f1"

    # example fields that are prompt inputs only (the long texts); the rest go into the record's
    # ``answer_fields`` so that ``curate eval`` can read an answer back without the catalog
    text_fields: ClassVar[tuple[str, ...]] = ("text",)

    def accepts(self, doc: Any) -> bool:
        """Whether this task makes examples from a document of this kind."""
        return getattr(doc, "kind", None) == self.document_kind

    def examples(self, doc: Any, entry: DatasetEntry, source_file: str) -> Iterator[Example]:
        raise NotImplementedError

    def labels(self, example: Example, entry: DatasetEntry, lang: str) -> LabelView:
        """The label options of an example in the prompt language (empty when the task has none)."""
        return LabelView.of(entry, example.fields.get("options", []), lang)

    def prompt_fields(self, example: Example, entry: DatasetEntry, lang: str) -> BaseModel:
        raise NotImplementedError

    def prompt_language(self, example: Example) -> str:
        """The prompt language before any cross-lingual switch: the language of the source text."""
        return example.source_lang

    def metric_for(self, subtask: str) -> str:
        """How ``curate eval`` scores this subtask: ``micro_f1``, ``accuracy`` or ``token_f1``."""
        return self.metric

    def score_items(self, value: Gold, fields: dict[str, Any]) -> set[Any]:
        """The items micro-F1 counts in a gold or parsed answer (strings folded by ``normalize_answer``)."""
        return set()

    def answer_fields(self, example: Example, entry: DatasetEntry, lang: str) -> dict[str, Any]:
        """What the answer format needs to read an answer back: every non-text field and the label names
        of the prompt language (stored in the record so that evaluation needs no catalog)."""
        kept = {k: v for k, v in example.fields.items() if k not in self.text_fields}
        return {**kept, "labels": self.labels(example, entry, lang).shown}

    def messages(self, example: Example, entry: DatasetEntry, lang: str, prompt: str,
                 response: str) -> list[dict[str, str]]:
        """The chat turns of a record; multi-turn tasks override this."""
        return [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]

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

    def typed_examples(self, doc: Any, entry: DatasetEntry, source_file: str, types: list[str],
                       present: set[str], gold: Callable[[list[str]], Gold]) -> Iterator[Example]:
        """The all-types ask over ``types`` and, with task decomposition on, one single-type ask per
        type present in the document (NER and RE share this shape)."""
        if not types:
            return
        yield self.new_example(doc, entry, source_file, "all_types", "all", {"text": doc.text, "options": types},
                               gold(types), doc.text)
        if entry.task_option(self.name).decompose and len(types) > 1:
            for label in types:
                if label in present:
                    yield self.new_example(doc, entry, source_file, "single_type", label,
                                           {"text": doc.text, "options": [label]}, gold([label]), doc.text)

    def new_example(self, doc: Any, entry: DatasetEntry, source_file: str, subtask: str, variant: str,
                    fields: dict[str, Any], gold: Gold, text: str) -> Example:
        return Example(
            example_id=stable_hash(entry.name, doc.split, doc.id, self.name, subtask, variant, length=24),
            dataset=entry.name, split=doc.split, task=self.name, subtask=subtask, source_lang=entry.language,
            document_id=doc.id, source_file=source_file, fields=fields, gold=gold, text_for_decontam=text)


QUOTE = '"'


def quote_item(item: str, special: str) -> str:
    """``item`` as written inside a list answer: wrapped in double quotes (inner quotes doubled) only
    when it would otherwise be misread: it holds a separator of the format (``special``), a quote or a
    line break, has outer spaces, is empty, or reads as a none word."""
    risky = (not item or item != item.strip() or is_none_word(item) or item[0] in "-*•"
             or any(c in item for c in special + QUOTE + "\n\r"))
    return QUOTE + item.replace(QUOTE, QUOTE * 2) + QUOTE if risky else item


def split_raw(text: str, seps: str) -> list[str]:
    """Split on any character of ``seps`` outside double quotes, keeping the pieces as written.

    Never raises: with an unbalanced quote (a model's slip) the text is split as if it had no quotes."""
    pieces, start, inside = [], 0, False
    for i, c in enumerate(text):
        if c == QUOTE:
            inside = not inside
        elif c in seps and not inside:
            pieces.append(text[start:i])
            start = i + 1
    pieces.append(text[start:])
    if inside:
        pieces = re.split("|".join(re.escape(c) for c in seps), text) if seps else [text]
    return pieces


def unquote(piece: str) -> str:
    """A piece without its surrounding spaces and, when it is quoted, its quotes (doubled quotes undone)."""
    piece = piece.strip()
    if len(piece) >= 2 and piece[0] == QUOTE and piece[-1] == QUOTE:
        return piece[1:-1].replace(QUOTE * 2, QUOTE)
    return piece


def split_quoted(text: str, seps: str) -> list[str]:
    """Split on any character of ``seps`` outside double quotes and unquote the items; empties dropped."""
    return [unquote(p) for p in split_raw(text, seps) if p.strip()]


def unquoted_find(text: str, chars: str, start: int = 0) -> int:
    """Index of the first character of ``chars`` outside double quotes, or -1."""
    inside = False
    for i in range(start, len(text)):
        c = text[i]
        if c == QUOTE:
            inside = not inside
        elif not inside and c in chars:
            return i
    if inside:  # an unbalanced quote in a model's answer: read the text as if it had no quotes
        return next((i for i in range(start, len(text)) if text[i] in chars), -1)
    return -1


def answer_lines(text: str) -> list[str]:
    """Lines of an answer, a line break inside double quotes kept in its line."""
    lines, start, inside = [], 0, False
    for i, c in enumerate(text):
        if c == QUOTE:
            inside = not inside
        elif c == "\n" and not inside:
            lines.append(text[start:i])
            start = i + 1
    lines.append(text[start:])
    if inside:  # an unbalanced quote in a model's answer: fall back to plain lines
        lines = text.split("\n")
    return [line.rstrip("\r") for line in lines if line.strip()]


ITEM_SEPS = ";；"


def split_items(text: str) -> list[str]:
    """Split a list answer on ';' (ASCII or full-width) outside quotes, dropping empties."""
    return split_quoted(text, ITEM_SEPS)


def list_items(text: str) -> list[str]:
    """The items of a list answer: split on ';' outside quotes, unquoted; an unquoted none word
    (``none``, ``无``) is no item, while a quoted one is a name."""
    return [unquote(p) for p in split_raw(text, ITEM_SEPS) if p.strip() and not is_none_word(p)]


def label_prefix(prefix: str, labels: LabelView) -> str | None:
    """The raw label a line prefix names: exactly, or else the longest label name inside it
    (tolerates ``疾病实体`` or ``Entities of type disease`` for ``disease``)."""
    cleaned = prefix.strip().strip("-*•#>").strip()
    exact = labels.lookup(cleaned)
    if exact is not None:
        return exact
    norm = normalize_answer(cleaned)
    best: tuple[int, str] | None = None
    for raw, shown in zip(labels.raw, labels.shown, strict=True):
        for name in {normalize_answer(shown), normalize_answer(raw)}:
            if name and name in norm and (best is None or len(name) > best[0]):
                best = (len(name), raw)
    return best[1] if best else None


def split_label_line(line: str, labels: LabelView) -> tuple[str | None, str]:
    """``Label: rest`` → (raw label, rest); (None, line) when the line names no label before a colon."""
    cut = unquoted_find(line, ":：")
    if cut < 0:
        return None, line
    return label_prefix(line[:cut], labels), line[cut + 1:]


NONE_WORDS = {"none", "无", "没有", "no entities", "n/a", "null", "none.", "无。", "nothing", "不存在"}
_NONE_NORMALIZED = {normalize_answer(w) for w in NONE_WORDS}


def is_none_word(text: str) -> bool:
    return normalize_answer(text) in _NONE_NORMALIZED
