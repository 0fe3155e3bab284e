"""PubTator: ``PMID|t|title`` and ``PMID|a|abstract`` lines, tab-separated mentions and relations.

Offsets are 0-based, end-exclusive, into ``title + " " + abstract`` (NCBI-disease, BC5CDR, tmVar,
MedMentions). Relation lines (``PMID<TAB>CID<TAB>id1<TAB>id2``) link concepts; each argument is
bound to the first mention normalized to that concept. Gzipped files are read directly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field

from curate.readers.base import ReadContext, Reader, read_text, text_lines
from schemas.documents import Entity, IEDocument, Normalization, Passage, Relation

_ID_SPLIT = re.compile(r"[|+,;]")
_OFFSET = re.compile(r"[0-9]+")  # ASCII digits only: int() also takes '１２' and str.isdigit() '1²'



class PubTatorOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    db_name: str = Field("MESH", description="knowledge base of ids without a prefix (OMIM:... keeps its own)")
    encoding: str = "utf-8"
    separator: str = Field(" ", description="what joins title and abstract in the offset space")
    id_columns: list[int] = Field(
        default_factory=lambda: [5], description="0-based columns of a mention line that hold concept ids (several "
        "in one cell split at | + , ;); a line without such a column has none. tmVar: [6], its `RSID:n` column")


class PubTatorReader(Reader):
    name = "pubtator"
    Options = PubTatorOptions
    description = "PubTator title/abstract/mention/relation lines (also .gz)"

    def read(self, path: str, ctx: ReadContext) -> Iterator[IEDocument]:
        opts: PubTatorOptions = self.options  # type: ignore[assignment]
        text = read_text(path, ctx, opts.encoding)
        if text is None:
            return
        block: list[tuple[int, str]] = []
        for number, line in text_lines(text):
            if line.strip():
                block.append((number, line))
            elif block:
                doc = self._document(block, ctx)
                if doc is not None:
                    yield doc
                block = []
        if block:
            doc = self._document(block, ctx)
            if doc is not None:
                yield doc

    def _document(self, block: list[tuple[int, str]], ctx: ReadContext) -> IEDocument | None:
        opts: PubTatorOptions = self.options  # type: ignore[assignment]
        first_line = block[0][0]
        title = abstract = None
        pmid = ""
        annotations: list[tuple[int, list[str]]] = []
        for number, line in block:
            head = re.match(r"^([^|\t]+)\|([ta])\|(.*)$", line)
            if head:
                pmid = head.group(1)
                if head.group(2) == "t":
                    title = head.group(3)
                else:
                    abstract = head.group(3)
            else:
                annotations.append((number, line.split("\t")))
        if not pmid:
            pmid = annotations[0][1][0] if annotations else ctx.position_id(f"line{first_line}")
        if title is None and abstract is None:
            ctx.reject("document has neither a title (|t|) nor an abstract (|a|) line", line=first_line,
                       record_id=pmid, field="text")
            return None
        title = title or ""
        text = title + opts.separator + (abstract or "") if abstract is not None else title
        passages = [Passage(id="title", type="title", offsets=[(0, len(title))])]
        if abstract is not None:
            start = len(title) + len(opts.separator)
            passages.append(Passage(id="abstract", type="abstract", offsets=[(start, len(text))]))
        doc_id = ctx.unique_id(pmid)
        entities: list[Entity] = []
        relations: list[Relation] = []
        concept_to_entity: dict[str, str] = {}
        for number, cols in annotations:
            if cols[0] != pmid:
                ctx.reject(f"annotation for {cols[0]!r} inside document {pmid}", line=number, record_id=pmid,
                           field="pmid", action="dropped")
                continue
            if len(cols) >= 5:
                if not (_OFFSET.fullmatch(cols[1]) and _OFFSET.fullmatch(cols[2])):
                    ctx.reject(f"mention offsets {cols[1]!r}, {cols[2]!r} are not whole numbers (ASCII digits)",
                               line=number, record_id=pmid, field="offsets", action="dropped")
                    continue
                start, end = int(cols[1]), int(cols[2])
                ids = [i.strip() for c in opts.id_columns if c < len(cols) for i in _ID_SPLIT.split(cols[c])]
                normalized = [self._normalization(i) for i in ids if i and i not in ("-1", "-")]
                entity = ctx.entity(text, id=f"T{len(entities)}", type=cols[4], spans=[(start, end)],
                                    mention=cols[3], normalized=normalized, line=number, record_id=pmid)
                if entity is not None:
                    entities.append(entity)
                    for norm in entity.normalized:
                        concept_to_entity.setdefault(norm.db_id, entity.id)
            elif len(cols) == 4:
                rel_type, arg1, arg2 = cols[1], cols[2], cols[3]
                relations.append(Relation(id=f"R{len(relations)}", type=rel_type, arg1_id=arg1, arg2_id=arg2))
            else:
                ctx.reject(f"line has {len(cols)} tab-separated columns; expected a mention (6) or a relation (4)",
                           line=number, record_id=pmid, field="columns", action="dropped")
        bound: list[Relation] = []
        for rel in relations:
            a1, a2 = concept_to_entity.get(self._key(rel.arg1_id)), concept_to_entity.get(self._key(rel.arg2_id))
            if a1 is None or a2 is None:
                ctx.reject(f"relation {rel.type} {rel.arg1_id} -> {rel.arg2_id}: no mention of that concept",
                           line=first_line, record_id=pmid, field="relation", action="dropped")
                continue
            bound.append(Relation(id=rel.id, type=rel.type, arg1_id=a1, arg2_id=a2,
                                  normalized=[self._normalization(rel.arg1_id), self._normalization(rel.arg2_id)]))
        return ctx.make(IEDocument, line=first_line, record_id=pmid, id=doc_id, document_id=pmid, split=ctx.split,
                        text=text, passages=passages, entities=entities, relations=bound)

    def _key(self, concept: str) -> str:
        return self._normalization(concept).db_id

    def _normalization(self, concept: str) -> Normalization:
        if ":" in concept:
            db, ident = concept.split(":", 1)
            return Normalization(db_name=db.upper(), db_id=ident)
        return Normalization(db_name=self.options.db_name, db_id=concept)  # type: ignore[attr-defined]
