"""DDI corpus 2013 XML: documents of sentences with drug entities (inclusive ``charOffset``) and drug pairs.

Offsets are 0-based, END INCLUSIVE, relative to the sentence, ``;`` between discontinuous fragments; the
reader joins sentences into one document text. Pairs with ``ddi="true"`` become relations typed by
their ``type``; every pair is a candidate, so each document's ``stats`` keeps ``candidate_pairs`` and
``negative_pairs`` (negative pairs are not relations: a missing relation already means "none").
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field

from curate.readers.base import ReadContext, Reader, read_xml
from schemas.documents import Entity, IEDocument, Passage, Relation


class DDIOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sentence_separator: str = Field(" ", description="what joins sentence texts into the document text")
    untyped_interaction: str = Field(
        "int", description="relation type of a ddi=\"true\" pair without a type (DDI 2011 style)")
    end_inclusive: bool = Field(True, description="charOffset ends are inclusive (DDI 2013)")


def parse_char_offset(value: str, inclusive: bool) -> list[tuple[int, int]]:
    """``"112-119;135-143"`` -> [(112, 120), (135, 144)] with inclusive ends; raises ValueError if malformed."""
    spans = []
    for piece in value.split(";"):
        start, end = piece.strip().split("-")
        spans.append((int(start), int(end) + (1 if inclusive else 0)))
    return spans


class DDIReader(Reader):
    name = "ddi_xml"
    Options = DDIOptions
    description = "DDI corpus XML (sentence entities with inclusive charOffset, drug pairs)"

    def read(self, path: str, ctx: ReadContext) -> Iterator[IEDocument]:
        opts: DDIOptions = self.options  # type: ignore[assignment]
        root = read_xml(path, ctx)
        if root is None:
            return
        documents = [root] if root.tag == "document" else root.findall(".//document")
        for document in documents:
            doc = self._document(document, ctx, opts)
            if doc is not None:
                yield doc

    def _document(self, document: ET.Element, ctx: ReadContext, opts: DDIOptions) -> IEDocument | None:
        doc_id = document.get("id", "")
        parts: list[str] = []
        passages: list[Passage] = []
        entities: list[Entity] = []
        relations: list[Relation] = []
        known: set[str] = set()
        candidates = negatives = 0
        pos = 0
        for s_index, sentence in enumerate(document.findall("sentence")):
            if s_index:
                parts.append(opts.sentence_separator)
                pos += len(opts.sentence_separator)
            s_text = sentence.get("text", "")
            s_id = sentence.get("id", f"{doc_id}.s{s_index}")
            parts.append(s_text)
            passages.append(Passage(id=s_id, type="sentence", offsets=[(pos, pos + len(s_text))]))
            for ent in sentence.findall("entity"):
                ent_id = ent.get("id", "")
                try:
                    spans = parse_char_offset(ent.get("charOffset", ""), opts.end_inclusive)
                except ValueError:
                    ctx.reject(f"entity {ent_id}: charOffset {ent.get('charOffset')!r} is not START-END[;START-END]",
                               record_id=doc_id, field="charOffset", action="dropped")
                    continue
                entity = ctx.entity(s_text, id=ent_id, type=ent.get("type", ""), spans=spans,
                                    mention=ent.get("text"), record_id=doc_id)
                if entity is None:
                    continue
                entity.offsets = [(a + pos, b + pos) for a, b in entity.offsets]
                entities.append(entity)
                known.add(ent_id)
            for pair in sentence.findall("pair"):
                candidates += 1
                e1, e2, pair_id = pair.get("e1", ""), pair.get("e2", ""), pair.get("id", "")
                if e1 not in known or e2 not in known:
                    ctx.reject(f"pair {pair_id}: entity {e1 if e1 not in known else e2} is not in the sentence",
                               record_id=doc_id, field="pair", action="dropped")
                    continue
                flag = pair.get("ddi", "false").lower()
                if flag != "true":
                    negatives += 1
                    continue
                relations.append(Relation(id=pair_id, type=pair.get("type") or opts.untyped_interaction,
                                          arg1_id=e1, arg2_id=e2))
            pos += len(s_text)
        return ctx.make(IEDocument, record_id=doc_id, id=ctx.unique_id(doc_id), document_id=doc_id,
                        split=ctx.split, text="".join(parts), passages=passages, entities=entities,
                        relations=relations, stats={"candidate_pairs": candidates, "negative_pairs": negatives})
