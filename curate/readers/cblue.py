"""The CBLUE family of Chinese medical benchmarks (CMeEE V1/V2 nested NER, ...).

CMeEE ships a JSON array (or JSON lines) of ``{text, entities: [{start_idx, end_idx, type, entity}]}``;
V2 ends are exclusive, V1 ends inclusive (``end_inclusive: true``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from curate.readers.base import ReadContext, Reader, read_text, text_lines
from schemas.documents import IEDocument, Passage


class CBLUEJsonOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    encoding: str = "utf-8"


def json_records(path: str, ctx: ReadContext, encoding: str = "utf-8") -> Iterator[tuple[int | None, str, Any]]:
    """(line or None, record id, record) from a JSON array or a JSON-lines file.

    A truncated or malformed array rejects the file (with the line of the error); in JSON lines a
    bad line is rejected alone.
    """
    text = read_text(path, ctx, encoding)
    if text is None:
        return
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            ctx.reject(f"invalid JSON ({exc.msg}); the file is truncated or malformed", line=exc.lineno,
                       field="(json)")
            return
        for index, record in enumerate(data):
            yield None, str(record.get("id", f"#{index}")) if isinstance(record, dict) else f"#{index}", record
        return
    for number, line in text_lines(text):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            ctx.reject(f"invalid JSON on this line ({exc.msg})", line=number, record_id=f"line{number}",
                       field="(json)")
            continue
        rid = str(record.get("id", f"line{number}")) if isinstance(record, dict) else f"line{number}"
        yield number, rid, record


class CMeEEOptions(CBLUEJsonOptions):
    end_inclusive: bool = Field(False, description="CMeEE V1 end_idx is inclusive; V2 is exclusive")


class CMeEEReader(Reader):
    name = "cmeee"
    Options = CMeEEOptions
    description = "CBLUE CMeEE V1/V2 nested NER JSON"

    def read(self, path: str, ctx: ReadContext) -> Iterator[IEDocument]:
        opts: CMeEEOptions = self.options  # type: ignore[assignment]
        for line, rid, record in json_records(path, ctx, opts.encoding):
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                ctx.reject("record has no string `text`", line=line, record_id=rid, field="text")
                continue
            text = record["text"]
            entities = []
            for i, ann in enumerate(record.get("entities") or []):
                try:
                    start, end = int(ann["start_idx"]), int(ann["end_idx"]) + (1 if opts.end_inclusive else 0)
                    etype, mention = str(ann["type"]), str(ann["entity"])
                except (KeyError, TypeError, ValueError) as exc:
                    ctx.reject(f"entity {i} lacks start_idx/end_idx/type/entity ({exc})", line=line, record_id=rid,
                               field=f"entities[{i}]", action="dropped")
                    continue
                entity = ctx.entity(text, id=f"T{i}", type=etype, spans=[(start, end)], mention=mention, line=line,
                                    record_id=rid)
                if entity is not None:
                    entities.append(entity)
            doc = ctx.make(IEDocument, line=line, record_id=rid, id=ctx.unique_id(rid), document_id=rid,
                           split=ctx.split, text=text, passages=[Passage(id="s0", type="sentence",
                                                                         offsets=[(0, len(text))])],
                           entities=entities)
            if doc is not None:
                yield doc
