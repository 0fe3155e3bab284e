"""The unified PPI-corpus XML (AIMed, BioInfer, HPRD50, IEPA, LLL): documents of sentences, entities with
sentence-relative ``charOffset`` spans, and interactions between entity ids.

``<document id>`` -> ``<sentence charOffset text>`` -> ``<entity charOffset text [type]>`` and
``<interaction e1 e2 type>``. Entity offsets are ``start-end`` relative to the sentence text, several
fragments of a discontinuous entity joined by commas (``65-71,82-87``, its text the fragments joined by
one space). A document's text is its sentences placed at their own document offsets (gaps filled with
spaces). Line ends (bare CR included) are the XML parser's business, so every variant reads the same.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from curate.readers.base import ReadContext, Reader, read_xml
from schemas.documents import Entity, IEDocument, Normalization, Passage, Relation

_SPAN = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")


class PPIXMLOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    offsets: Literal["end_exclusive", "end_inclusive"] = Field(
        "end_exclusive", description="how `charOffset=\"a-b\"` ends: the metalrt/ppi-dataset files are end "
        "exclusive, the original Pyysalo et al. unified files end inclusive")
    type_attribute: str = Field("type", description="entity attribute holding its type")
    type_holds: Literal["type", "ids"] = Field(
        "type", description="type: the attribute is a semantic type; ids: it holds database ids (HPRD50), "
        "which become normalizations and the entity gets `default_type`")
    default_type: str = Field("protein", description="type of entities without a type (IEPA has none)")
    id_separator: str = Field("||", description="separator of several ids when type_holds is ids")
    id_db_name: str = Field("HPRD", description="knowledge base of those ids")
    relation_type: str | None = Field(
        None, description="type of every relation; None: the interaction's own `type` attribute (PPI)")


class PPIXMLReader(Reader):
    name = "ppi_xml"
    Options = PPIXMLOptions
    description = ("Unified PPI-corpus XML (BioInfer, HPRD50, IEPA, LLL, AIMed): sentence-relative and "
                   "discontinuous `a-b,c-d` entity offsets, interactions")

    def read(self, path: str, ctx: ReadContext) -> Iterator[IEDocument]:
        root = read_xml(path, ctx)
        if root is None:
            return
        documents = root.findall(".//document")
        if not documents:
            ctx.reject("no <document> element found: is this a PPI-corpus XML file?", field="(xml)")
        for number, element in enumerate(documents):
            doc = self._document(element, number, ctx)
            if doc is not None:
                yield doc

    def _document(self, element: ET.Element, number: int, ctx: ReadContext) -> IEDocument | None:
        opts: PPIXMLOptions = self.options  # type: ignore[assignment]
        doc_id = element.get("id") or ctx.position_id(f"#{number}")
        text = ""
        passages: list[Passage] = []
        entities: dict[str, Entity] = {}
        relations: list[Relation] = []
        for sentence in element.findall("sentence"):
            sentence_id = sentence.get("id", f"s{len(passages)}")
            sentence_text = sentence.get("text")
            if sentence_text is None:
                ctx.reject(f"sentence {sentence_id} has no text attribute", record_id=doc_id, field="text",
                           action="dropped")
                continue
            start = self._sentence_start(sentence, sentence_text, len(text), doc_id, ctx)
            text = text + " " * (start - len(text)) + sentence_text
            passages.append(Passage(id=sentence_id, type="sentence", offsets=[(start, start + len(sentence_text))]))
            for entity_element in sentence.findall("entity"):
                entity = self._entity(entity_element, sentence_text, start, text, doc_id, ctx)
                if entity is not None:
                    entities[entity.id] = entity
            for interaction in sentence.findall("interaction") + sentence.findall("pair"):
                if interaction.tag == "pair" and interaction.get("interaction", "True").lower() != "true":
                    continue  # a negative candidate pair of the AIMed-style files
                rel_id = interaction.get("id", f"{sentence_id}.i{len(relations)}")
                args = [interaction.get("e1", ""), interaction.get("e2", "")]
                missing = [a for a in args if a not in entities]
                if missing:
                    ctx.reject(f"interaction {rel_id} refers to missing or dropped entities {missing}",
                               record_id=doc_id, field="interaction", action="dropped")
                    continue
                rel_type = opts.relation_type or interaction.get("type") or "interaction"
                relations.append(Relation(id=rel_id, type=rel_type, arg1_id=args[0], arg2_id=args[1]))
        if not passages:
            ctx.reject("document has no sentence with text", record_id=doc_id, field="sentence")
            return None
        return ctx.make(IEDocument, record_id=doc_id, id=ctx.unique_id(doc_id), document_id=doc_id,
                        split=ctx.split, text=text, passages=passages, entities=list(entities.values()),
                        relations=relations, stats={"sentences": len(passages)})

    @staticmethod
    def _sentence_start(sentence: ET.Element, sentence_text: str, length: int, doc_id: str,
                        ctx: ReadContext) -> int:
        """Where a sentence starts in the document: its own offset, or after the previous one and a space
        (reported) when that offset is missing or overlaps the text so far."""
        fallback = length + 1 if length else 0
        match = _SPAN.match(sentence.get("charOffset", ""))
        if match is None:
            ctx.reject(f"sentence {sentence.get('id')} has no `start-end` charOffset; placed after the previous one",
                       record_id=doc_id, field="charOffset", action="repaired")
            return fallback
        start = int(match.group(1))
        if start < length:
            ctx.reject(f"sentence {sentence.get('id')} at {start} overlaps the previous sentence (ends at "
                       f"{length}); placed after it", record_id=doc_id, field="charOffset", action="repaired")
            return fallback
        return start

    def _entity(self, element: ET.Element, sentence_text: str, start: int, text: str, doc_id: str,
                ctx: ReadContext) -> Entity | None:
        opts: PPIXMLOptions = self.options  # type: ignore[assignment]
        entity_id = element.get("id", "")
        spans: list[tuple[int, int]] = []
        for piece in element.get("charOffset", "").split(","):
            match = _SPAN.match(piece)
            if match is None:
                ctx.reject(f"entity {entity_id}: charOffset {element.get('charOffset')!r} is not `a-b[,c-d...]`",
                           record_id=doc_id, field="charOffset", action="dropped")
                return None
            first, last = int(match.group(1)), int(match.group(2))
            end = last + 1 if opts.offsets == "end_inclusive" else last
            if end > len(sentence_text):
                ctx.reject(f"entity {entity_id}: span {piece} is outside its sentence (length "
                           f"{len(sentence_text)})", record_id=doc_id, field="charOffset", action="dropped")
                return None
            spans.append((start + first, start + end))
        raw_type = element.get(opts.type_attribute)
        normalized: list[Normalization] = []
        if opts.type_holds == "ids" or not raw_type:
            entity_type = opts.default_type
            if opts.type_holds == "ids" and raw_type:
                normalized = [Normalization(db_name=opts.id_db_name, db_id=i.strip())
                              for i in raw_type.split(opts.id_separator) if i.strip()]
        else:
            entity_type = raw_type
        return ctx.entity(text, id=entity_id, type=entity_type, spans=spans, mention=element.get("text"),
                          normalized=normalized, record_id=doc_id)
