"""GENETAG-style token-indexed gene lists: a tokenized corpus plus gold (and alternative) mention lists.

The corpus has one sentence a line, ``@@<id> tok/TAG tok/TAG ...`` (the token is what precedes the last
``/``). The gold list, a file beside it, has ``@@<id>|<first> <last>|<mention>`` lines: 0-based token
indices, END INCLUSIVE, the mention being the tokens joined by single spaces. An alternatives list
(GENETAG's Correct.Data) of the same layout gives other acceptable boundaries of the gold mentions; each
is attached to the gold mentions it overlaps (entity attribute ``alternatives``: ``start-end`` character
spans joined by ``|``), not counted as an entity. A sentence's text is its tokens joined by one space.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from curate.readers._paths import sibling_path
from curate.readers.base import ReadContext, Reader, path_exists, read_text, text_lines
from schemas.documents import Entity, IEDocument, Passage

_GOLD = re.compile(r"^(\S+)\|([0-9]+) ([0-9]+)\|(.*)$")


class GenetagOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    encoding: str = "utf-8"
    gold_file: str = Field("Gold.format", description="gold mention list, relative to the corpus file's folder")
    alternatives_file: str | None = Field(
        "Correct.Data", description="alternative boundaries of the gold mentions (relative path); None: none")
    entity_type: str = Field("Gene", description="type of every mention (GENETAG has one)")
    id_prefix: str = Field("@@", description="what precedes a sentence id, removed from document ids")
    tag_separator: str = Field("/", description="a token is what precedes the last separator of `tok/TAG`")


@dataclass
class _Sentence:
    line: int
    text: str
    starts: list[int]
    ends: list[int]
    entities: list[Entity] = field(default_factory=list)
    alternatives: int = 0


class GenetagReader(Reader):
    name = "genetag"
    Options = GenetagOptions
    description = "GENETAG token-indexed, end-inclusive gene lists beside a `tok/TAG` sentence-per-line corpus"

    def read(self, path: str, ctx: ReadContext) -> Iterator[IEDocument]:
        opts: GenetagOptions = self.options  # type: ignore[assignment]
        text = read_text(path, ctx, opts.encoding)
        if text is None:
            return
        sentences: dict[str, _Sentence] = {}
        for number, line in text_lines(text):
            if not line.strip():
                continue
            sentence_id, _, rest = line.partition(" ")
            if sentence_id in sentences:
                ctx.reject(f"sentence id {sentence_id} repeats line {sentences[sentence_id].line}; renamed",
                           line=number, record_id=sentence_id, field="id", action="repaired")
            tokens = [t.rpartition(opts.tag_separator)[0] or t for t in rest.split(" ") if t]
            starts, position = [], 0
            for token in tokens:
                starts.append(position)
                position += len(token) + 1
            key = sentence_id if sentence_id not in sentences else f"{sentence_id}~{number}"
            sentences[key] = _Sentence(number, " ".join(tokens), starts,
                                       [s + len(t) for s, t in zip(starts, tokens, strict=True)])
        for name, alternatives in ((opts.gold_file, False), (opts.alternatives_file, True)):
            if name:  # rejects of a list name that list's file and line
                list_ctx = ReadContext(ctx.dataset, ctx.split, sibling_path(ctx.file, name), ctx.language, ctx.labels,
                                       rejects=ctx.rejects, stats=ctx.stats)
                self._gold(sibling_path(path, name), sentences, list_ctx, alternatives=alternatives)
        for key, sentence in sentences.items():
            doc_id = key.removeprefix(opts.id_prefix)
            stats = {"alternatives": sentence.alternatives} if sentence.alternatives else {}
            doc = ctx.make(IEDocument, line=sentence.line, record_id=doc_id, id=ctx.unique_id(doc_id),
                           document_id=doc_id, split=ctx.split, text=sentence.text,
                           passages=[Passage(id="s0", type="sentence", offsets=[(0, len(sentence.text))])],
                           entities=sentence.entities, stats=stats)
            if doc is not None:
                yield doc

    def _gold(self, path: str, sentences: dict[str, _Sentence], ctx: ReadContext, *, alternatives: bool) -> None:
        """Attach the mentions of one list to their sentences; every bad line is a named drop."""
        opts: GenetagOptions = self.options  # type: ignore[assignment]
        kind = "alternative" if alternatives else "gold"
        if not path_exists(path):
            ctx.reject(f"{kind} list {path} not found: set `{'alternatives_file' if alternatives else 'gold_file'}`",
                       field="(file)")
            return
        text = read_text(path, ctx, opts.encoding)
        for number, line in text_lines(text or ""):
            if not line.strip():
                continue
            match = _GOLD.match(line)
            if match is None:
                ctx.reject(f"{kind} line is not `@@id|first last|mention`: {line[:80]!r}", line=number,
                           field="(line)", action="dropped")
                continue
            sentence_id, first, last, mention = match.group(1), int(match.group(2)), int(match.group(3)), match.group(4)
            record = sentence_id.removeprefix(opts.id_prefix)
            sentence = sentences.get(sentence_id)
            if sentence is None:
                ctx.reject(f"{kind} mention of sentence {sentence_id}, which is not in the corpus", line=number,
                           record_id=record, field="id", action="dropped")
                continue
            if not 0 <= first <= last < len(sentence.starts):
                ctx.reject(f"{kind} token span {first}..{last} is outside the sentence ({len(sentence.starts)} tokens)",
                           line=number, record_id=record, field="offsets", action="dropped")
                continue
            span = (sentence.starts[first], sentence.ends[last])
            if not alternatives:
                entity = ctx.entity(sentence.text, id=f"T{len(sentence.entities)}", type=opts.entity_type,
                                    spans=[span], mention=mention, line=number, record_id=record)
                if entity is not None:
                    sentence.entities.append(entity)
                continue
            checked = ctx.entity(sentence.text, id="alt", type=opts.entity_type, spans=[span], mention=mention,
                                 line=number, record_id=record)
            if checked is None:
                continue
            owners = [e for e in sentence.entities if e.offsets[0][0] < span[1] and span[0] < e.offsets[0][1]]
            if not owners:
                ctx.reject(f"alternative {mention!r} overlaps no gold mention of its sentence", line=number,
                           record_id=record, field="alternatives", action="dropped")
                continue
            for owner in owners:
                spans = [s for s in owner.attributes.get("alternatives", "").split("|") if s]
                owner.attributes["alternatives"] = "|".join([*spans, f"{span[0]}-{span[1]}"])
            sentence.alternatives += 1
