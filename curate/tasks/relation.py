"""End-to-end relation extraction: list the (head, tail) entity pairs of given relation types.

No gold entities are given to the model, as in Taiyi. The gold answer is the sorted set of
``[relation, head mention, tail mention]`` triples.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from curate.catalog import DatasetEntry
from curate.tasks.base import AnswerFormat, Example, Gold, LabelView, Task, is_none_word
from schemas.documents import IEDocument

_PAIR = re.compile(r"[\[［【]\s*(.+?)\s*(?:,|，|\|)\s*(.+?)\s*[\]］】]")


class REFields(BaseModel):
    """What an RE template may use."""

    text: str
    relation_types: list[str]
    single_type: bool


def triples(doc: IEDocument, types: list[str]) -> list[list[str]]:
    found = set()
    for rel in doc.relations:
        if rel.type in types:
            found.add((rel.type, doc.entity(rel.arg1_id).mention, doc.entity(rel.arg2_id).mention))
    return sorted([r, h, t] for r, h, t in found)


class RelationLines(AnswerFormat):
    """One line per asked relation type: ``Rel: [head, tail]; [head, tail]``, ``none``/``无`` when empty."""

    name = "relation_lines"

    def render(self, gold: Gold, fields: dict[str, Any], labels: LabelView, lang: str) -> str:
        colon, sep, comma, empty = (": ", "; ", ", ", "none") if lang == "en" else ("：", "；", "，", "无")
        lines = []
        for raw in fields["options"]:
            pairs = [f"[{h}{comma}{t}]" for r, h, t in gold if r == raw]
            lines.append(f"{labels.show(raw)}{colon}{sep.join(pairs) if pairs else empty}")
        return "\n".join(lines)

    def parse(self, text: str, fields: dict[str, Any], labels: LabelView, lang: str) -> Gold:
        found: set[tuple[str, str, str]] = set()
        single = fields["options"][0] if len(fields["options"]) == 1 else None
        for line in text.splitlines():
            parts = re.split(r"[:：]", line, maxsplit=1)
            raw = labels.lookup(parts[0].strip().strip("-*• ")) if len(parts) == 2 else None
            body = parts[1] if raw is not None else line
            raw = raw or single
            if raw is None or is_none_word(body):
                continue
            for head, tail in _PAIR.findall(body):
                found.add((raw, head, tail))
        return sorted([r, h, t] for r, h, t in found)


class RelationTask(Task):
    name = "re"
    document_kind = "ie"
    PromptFields = REFields
    formats = {f.name: f for f in (RelationLines(),)}
    default_format = "relation_lines"

    def examples(self, doc: IEDocument, entry: DatasetEntry, source_file: str) -> Iterator[Example]:
        types = entry.label_inventory("relation") if any(
            n.kind == "relation" for n in entry.labels.values()) else sorted({r.type for r in doc.relations})
        if not types:
            return
        yield self.new_example(doc, entry, source_file, "all_types", "all", {"text": doc.text, "options": types},
                               triples(doc, types), doc.text)
        if entry.task_option("re").decompose and len(types) > 1:
            for rtype in types:
                if any(r.type == rtype for r in doc.relations):
                    yield self.new_example(doc, entry, source_file, "single_type", rtype,
                                           {"text": doc.text, "options": [rtype]}, triples(doc, [rtype]), doc.text)

    def prompt_fields(self, example: Example, entry: DatasetEntry, lang: str) -> REFields:
        labels = self.labels(example, entry, lang)
        return REFields(text=example.fields["text"], relation_types=labels.shown, single_type=len(labels.raw) == 1)
