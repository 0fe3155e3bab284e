"""BioC XML: collections of documents, passages placed at offsets, annotations with locations, relations.

BioC offsets are 0-based, end-exclusive (``offset`` + ``length``) in the document's offset space; the
reader rebuilds the document text by placing each passage (or sentence) text at its offset, so every
annotation location is checked against the same text the passages give.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field

from curate.readers.base import ReadContext, Reader, read_xml
from schemas.documents import Entity, IEDocument, Normalization, Passage, Relation

_ID_SPLIT = re.compile(r"[|,;]")


class BioCOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type_infons: list[str] = Field(default_factory=lambda: ["type"], description="infon keys holding the type")
    id_infons: list[str] = Field(
        default_factory=lambda: ["identifier", "Identifier", "MESH", "MeSH", "NCBI Gene", "NCBI Taxonomy"],
        description="infon keys holding normalized ids; the key becomes db_name unless the id has a prefix")
    relation_type_infons: list[str] = Field(default_factory=lambda: ["type", "relation", "relation_type"])
    filler: str = Field(" ", description="character that fills gaps between passages in the rebuilt text")


def _infons(element: ET.Element) -> dict[str, str]:
    return {i.get("key", ""): (i.text or "") for i in element.findall("infon")}


class BioCReader(Reader):
    name = "bioc"
    Options = BioCOptions
    description = "BioC XML collections (passages with offsets, annotations with locations, relations with nodes)"

    def read(self, path: str, ctx: ReadContext) -> Iterator[IEDocument]:
        root = read_xml(path, ctx)
        if root is None:
            return
        documents = [root] if root.tag == "document" else root.findall("document")
        if not documents:
            ctx.reject(f"no <document> under <{root.tag}>", field="(xml)")
        for index, document in enumerate(documents):
            doc = self._document(document, index, ctx)
            if doc is not None:
                yield doc

    def _document(self, document: ET.Element, index: int, ctx: ReadContext) -> IEDocument | None:
        opts: BioCOptions = self.options  # type: ignore[assignment]
        doc_id = (document.findtext("id") or "").strip() or ctx.position_id(f"#{index}")
        pieces: list[tuple[int, str, str, str]] = []  # offset, text, passage type, passage id
        annotations: list[ET.Element] = list(document.findall("annotation"))
        relation_nodes: list[ET.Element] = list(document.findall("relation"))
        for p_index, passage in enumerate(document.findall("passage")):
            infons = _infons(passage)
            ptype = infons.get("type") or infons.get("section_type") or "passage"
            try:
                offset = int(passage.findtext("offset") or "0")
            except ValueError:
                ctx.reject(f"passage {p_index} has a non-integer <offset>", record_id=doc_id, field="passage")
                return None
            if passage.find("text") is not None:
                pieces.append((offset, passage.findtext("text") or "", ptype, f"p{p_index}"))
            else:
                for s_index, sentence in enumerate(passage.findall("sentence")):
                    try:
                        s_offset = int(sentence.findtext("offset") or "0")
                    except ValueError:
                        ctx.reject(f"sentence {s_index} of passage {p_index} has a non-integer <offset>",
                                   record_id=doc_id, field="sentence")
                        return None
                    pieces.append((s_offset, sentence.findtext("text") or "", "sentence", f"p{p_index}.s{s_index}"))
                    annotations += sentence.findall("annotation")
                    relation_nodes += sentence.findall("relation")
            annotations += passage.findall("annotation")
            relation_nodes += passage.findall("relation")
        text_parts: list[str] = []
        passages: list[Passage] = []
        pos = 0
        for offset, ptext, ptype, pid in sorted(pieces, key=lambda p: p[0]):
            if offset < pos:
                ctx.reject(f"passage {pid} at offset {offset} overlaps the previous one (ends at {pos})",
                           record_id=doc_id, field="passage")
                return None
            text_parts.append(opts.filler * (offset - pos) + ptext)
            passages.append(Passage(id=pid, type=ptype, offsets=[(offset, offset + len(ptext))]))
            pos = offset + len(ptext)
        text = "".join(text_parts)
        entities: list[Entity] = []
        for ann in annotations:
            ann_id = ann.get("id", f"A{len(entities)}")
            infons = _infons(ann)
            etype = next((infons[k] for k in opts.type_infons if infons.get(k)), "")
            spans: list[tuple[int, int]] = []
            try:
                for loc in ann.findall("location"):
                    start = int(loc.get("offset", ""))
                    spans.append((start, start + int(loc.get("length", ""))))
            except ValueError:
                ctx.reject(f"annotation {ann_id}: location offset/length is not an integer", record_id=doc_id,
                           field="location", action="dropped")
                continue
            if not spans or not etype:
                ctx.reject(f"annotation {ann_id} has no location or no type infon", record_id=doc_id,
                           field="annotation", action="dropped")
                continue
            normalized = []
            for key in opts.id_infons:
                for ident in _ID_SPLIT.split(infons.get(key, "")):
                    ident = ident.strip()
                    if ident and ident not in ("-", "-1"):
                        db, sep, rest = ident.partition(":")
                        normalized.append(Normalization(db_name=db, db_id=rest) if sep and rest else
                                          Normalization(db_name=key, db_id=ident))
            entity = ctx.entity(text, id=ann_id, type=etype, spans=sorted(spans), mention=ann.findtext("text"),
                                normalized=normalized, record_id=doc_id)
            if entity is not None:
                entities.append(entity)
        relations = self._relations(relation_nodes, entities, doc_id, ctx)
        return ctx.make(IEDocument, record_id=doc_id, id=ctx.unique_id(doc_id), document_id=doc_id,
                        split=ctx.split, text=text, passages=passages, entities=entities, relations=relations)

    def _relations(self, nodes: list[ET.Element], entities: list[Entity], doc_id: str,
                   ctx: ReadContext) -> list[Relation]:
        opts: BioCOptions = self.options  # type: ignore[assignment]
        ids = {e.id for e in entities}
        by_concept: dict[str, str] = {}
        for entity in entities:
            for norm in entity.normalized:
                by_concept.setdefault(norm.db_id, entity.id)
        relations: list[Relation] = []
        for rel in nodes:
            rel_id = rel.get("id", f"R{len(relations)}")
            infons = _infons(rel)
            rtype = next((infons[k] for k in opts.relation_type_infons if infons.get(k)), "")
            refs = [n.get("refid", "") for n in rel.findall("node")]
            if not refs:
                # BC5CDR-style: no nodes, the infons name the two concepts; bind the first mention of each
                concepts = [v for k, v in infons.items() if k not in opts.relation_type_infons]
                refs = [by_concept.get(c.partition(":")[2] or c, "") for c in concepts]
            if len(refs) < 2 or not rtype:
                ctx.reject(f"relation {rel_id} needs a type infon and two nodes", record_id=doc_id, field="relation",
                           action="dropped")
                continue
            missing = [r for r in refs[:2] if r not in ids]
            if missing:
                ctx.reject(f"relation {rel_id} refers to missing or dropped annotation(s) {missing}",
                           record_id=doc_id, field="relation", action="dropped")
                continue
            if len(refs) > 2:
                ctx.reject(f"relation {rel_id} has {len(refs)} nodes; the first two are kept", record_id=doc_id,
                           field="relation", action="repaired")
            relations.append(Relation(id=rel_id, type=rtype, arg1_id=refs[0], arg2_id=refs[1]))
        return relations
