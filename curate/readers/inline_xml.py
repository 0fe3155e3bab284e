"""Inline-XML mentions without offsets (OSIRIS): mentions are elements inside the text elements.

``<Article><Pmid/><Title>... <gene g_id="7040" g_lex="TGFB1">TGFB1</gene> ...</Title><Abstract/></Article>``.
A document's text is its text elements (title, abstract) joined by ``separator``, each the concatenation of
its text and every child's text and tail; a mention's offsets are where its element's text lands. Which
elements are mentions, their type, their id attributes and the attribute that repeats the mention
(``g_lex``) come from the options, so the next corpus of this family is YAML only.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field

from curate.readers.base import ReadContext, Reader, read_xml
from schemas.documents import Entity, IEDocument, Normalization, Passage


class MentionElement(BaseModel):
    """How one mention element becomes an entity."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="entity type of the element")
    ids: dict[str, str] = Field(default_factory=dict, description="attribute -> knowledge base of the id it holds")
    no_id: list[str] = Field(default_factory=list, description="attribute values that mean no id (OSIRIS: No)")
    mention_attribute: str | None = Field(None, description="attribute repeating the mention text; a difference "
                                          "is reported and the element's text kept")


class InlineXMLOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    document_path: str = Field(".//Article", description="ElementTree path of the document elements")
    id_path: str = Field("Pmid", description="path (below a document) of the element holding its id")
    text_paths: list[str] = Field(default_factory=lambda: ["Title", "Abstract"],
                                  description="paths of the text elements, in order; each becomes a passage")
    separator: str = Field(" ", description="what joins the text elements in the offset space")
    mentions: dict[str, MentionElement] = Field(
        description="element tag -> how it becomes an entity; other child elements are text only")


class InlineXMLReader(Reader):
    name = "inline_xml"
    Options = InlineXMLOptions
    description = "XML with inline mention elements and no offsets (OSIRIS); offsets derived from the text"

    def read(self, path: str, ctx: ReadContext) -> Iterator[IEDocument]:
        opts: InlineXMLOptions = self.options  # type: ignore[assignment]
        root = read_xml(path, ctx)
        if root is None:
            return
        documents = root.findall(opts.document_path) if root.tag != opts.document_path.lstrip("./") else [root]
        if not documents:
            ctx.reject(f"no document element at {opts.document_path!r}: set `document_path`", field="(xml)")
        for number, element in enumerate(documents):
            doc = self._document(element, number, ctx)
            if doc is not None:
                yield doc

    def _document(self, element: ET.Element, number: int, ctx: ReadContext) -> IEDocument | None:
        opts: InlineXMLOptions = self.options  # type: ignore[assignment]
        doc_id = (element.findtext(opts.id_path) or "").strip() or ctx.position_id(f"#{number}")
        pieces: list[str] = []
        length = 0
        passages: list[Passage] = []
        found: list[tuple[ET.Element, int, int]] = []
        for text_path in opts.text_paths:
            part = element.find(text_path)
            if part is None:
                continue
            if passages:
                pieces.append(opts.separator)
                length += len(opts.separator)
            start = length
            length = _flatten(part, pieces, length, found, set(opts.mentions))
            passages.append(Passage(id=part.tag.lower(), type=part.tag.lower(), offsets=[(start, length)]))
        if not passages:
            ctx.reject(f"document has none of the text elements {opts.text_paths}", record_id=doc_id,
                       field="text_paths")
            return None
        text = "".join(pieces)
        entities: list[Entity] = []
        for mention_element, start, end in found:
            entity = self._entity(mention_element, text, start, end, f"T{len(entities)}", doc_id, ctx)
            if entity is not None:
                entities.append(entity)
        return ctx.make(IEDocument, record_id=doc_id, id=ctx.unique_id(doc_id), document_id=doc_id,
                        split=ctx.split, text=text, passages=passages, entities=entities)

    def _entity(self, element: ET.Element, text: str, start: int, end: int, entity_id: str, doc_id: str,
                ctx: ReadContext) -> Entity | None:
        spec = self.options.mentions[element.tag]  # type: ignore[attr-defined]
        raw = text[start:end]
        trimmed_start, trimmed_end = start + len(raw) - len(raw.lstrip()), end - (len(raw) - len(raw.rstrip()))
        if trimmed_start >= trimmed_end:
            ctx.reject(f"<{element.tag}> element has no text", record_id=doc_id, field=element.tag, action="dropped")
            return None
        if (trimmed_start, trimmed_end) != (start, end):
            ctx.reject(f"<{element.tag}> text {raw!r} has surrounding white space; trimmed", record_id=doc_id,
                       field=element.tag, action="repaired")
        mention = text[trimmed_start:trimmed_end]
        lexical = element.get(spec.mention_attribute) if spec.mention_attribute else None
        if lexical is not None and lexical.strip() != mention:
            ctx.reject(f"<{element.tag}> text {mention!r} differs from its {spec.mention_attribute} "
                       f"{lexical!r}; kept the text", record_id=doc_id,
                       field=spec.mention_attribute, action="repaired")
        normalized = [Normalization(db_name=db, db_id=value.strip()) for attribute, db in spec.ids.items()
                      if (value := element.get(attribute)) and value.strip() and value.strip() not in spec.no_id]
        return ctx.entity(text, id=entity_id, type=spec.type, spans=[(trimmed_start, trimmed_end)],
                          normalized=normalized, record_id=doc_id)


def _flatten(element: ET.Element, pieces: list[str], length: int, found: list[tuple[ET.Element, int, int]],
             mention_tags: set[str]) -> int:
    """Append an element's text content to ``pieces``; record where each mention element lands; return the
    new length. Nested mentions are each recorded."""
    if element.text:
        pieces.append(element.text)
        length += len(element.text)
    for child in element:
        start = length
        length = _flatten(child, pieces, length, found, mention_tags)
        if child.tag in mention_tags:
            found.append((child, start, length))
        if child.tail:
            pieces.append(child.tail)
            length += len(child.tail)
    return length
