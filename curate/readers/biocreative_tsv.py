"""BioCreative TSV triples (ChemProt, DrugProt): abstracts, entities and relations files per split.

The catalog names the abstracts file; the entities and relations files are found by replacing a name
token. Entity offsets are 0-based, end-exclusive into ``title + separator + abstract``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict, Field, model_validator

from curate.readers.base import ReadContext, Reader, path_exists, read_text, text_lines
from schemas.documents import Entity, IEDocument, Passage, Relation


class BioCreativeTSVOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    encoding: str = "utf-8"
    separator: str = Field(" ", description="what joins title and abstract in the offset space")
    abstracts_token: str = Field("abstracts", description="part of the abstracts file name (DrugProt: abstracs)")
    entities_token: str = Field("entities", description="replaces abstracts_token to name the entities file")
    relations_token: str = Field("relations", description="replaces abstracts_token to name the relations file")
    require_relations: bool = Field(True, description="false: a missing relations file is fine (test sets)")
    entity_columns: list[str] = Field(default_factory=lambda: ["pmid", "id", "type", "start", "end", "text"])
    relation_columns: list[str] = Field(
        default_factory=lambda: ["pmid", "type", "arg1", "arg2"],
        description="ChemProt: [pmid, group, evaluated, type, arg1, arg2]")
    relation_type_column: str = Field("type", description="column used as the relation type (ChemProt: group)")

    @model_validator(mode="after")
    def _columns_named(self) -> BioCreativeTSVOptions:
        for need in ("pmid", "id", "type", "start", "end", "text"):
            if need not in self.entity_columns:
                raise ValueError(f"entity_columns must include {need!r}")
        for need in ("pmid", "arg1", "arg2", self.relation_type_column):
            if need not in self.relation_columns:
                raise ValueError(f"relation_columns must include {need!r}")
        return self


class BioCreativeTSVReader(Reader):
    name = "biocreative_tsv"
    Options = BioCreativeTSVOptions
    description = "ChemProt/DrugProt abstracts + entities + relations TSV files"

    def _sibling(self, path: str, token: str) -> str:
        opts: BioCreativeTSVOptions = self.options  # type: ignore[assignment]
        head, sep, name = path.rpartition("/")
        if opts.abstracts_token not in name:
            return ""
        before, _, after = name.rpartition(opts.abstracts_token)
        return head + sep + before + token + after

    def read(self, path: str, ctx: ReadContext) -> Iterator[IEDocument]:
        opts: BioCreativeTSVOptions = self.options  # type: ignore[assignment]
        abstracts = read_text(path, ctx, opts.encoding)
        if abstracts is None:
            return
        entities_path = self._sibling(path, opts.entities_token)
        relations_path = self._sibling(path, opts.relations_token)
        if not entities_path or not path_exists(entities_path):
            where = entities_path or f"the file name lacks {opts.abstracts_token!r}"
            ctx.reject(f"no entities file next to the abstracts ({where})", field="(file)")
            return
        entity_rows = self._rows(entities_path, opts.entity_columns, ctx)
        relation_rows: dict[str, list[tuple[int, dict[str, str]]]] = {}
        if path_exists(relations_path):
            relation_rows = self._rows(relations_path, opts.relation_columns, ctx)
        elif opts.require_relations:
            ctx.reject(f"relations file {PurePosixPath(relations_path).name} is missing "
                       "(set require_relations: false for a split without relations)", field="(file)")
            return
        seen: set[str] = set()
        for number, line in text_lines(abstracts):
            if not line.strip():
                continue
            cols = line.split("\t")
            if len(cols) < 3:
                ctx.reject(f"abstract line has {len(cols)} columns, expected 3 (PMID, title, abstract)", line=number,
                           record_id=cols[0], field="(columns)")
                continue
            pmid, title, abstract = cols[0], cols[1], "\t".join(cols[2:])
            seen.add(pmid)
            doc = self._document(pmid, number, title, abstract, entity_rows.get(pmid, []),
                                 relation_rows.get(pmid, []), ctx)
            if doc is not None:
                yield doc
        for pmid in sorted(set(entity_rows) - seen):
            ctx.reject(f"{len(entity_rows[pmid])} entities for PMID {pmid}, which has no abstract",
                       line=entity_rows[pmid][0][0], record_id=pmid, field="pmid", action="dropped")
        for pmid in sorted(set(relation_rows) - seen):
            ctx.reject(f"{len(relation_rows[pmid])} relations for PMID {pmid}, which has no abstract",
                       line=relation_rows[pmid][0][0], record_id=pmid, field="pmid", action="dropped")

    def _rows(self, path: str, columns: list[str], ctx: ReadContext) -> dict[str, list[tuple[int, dict[str, str]]]]:
        opts: BioCreativeTSVOptions = self.options  # type: ignore[assignment]
        name = PurePosixPath(path.replace("!", "/")).name
        text = read_text(path, ctx, opts.encoding)
        rows: dict[str, list[tuple[int, dict[str, str]]]] = {}
        if text is None:
            return rows
        for number, line in text_lines(text):
            if not line.strip():
                continue
            cells = line.split("\t")
            if len(cells) < len(columns):
                ctx.reject(f"{name}: row has {len(cells)} columns, expected {len(columns)} ({', '.join(columns)})",
                           line=number, record_id=cells[0], field="(columns)", action="dropped")
                continue
            row = {c: v.strip() for c, v in zip(columns, cells, strict=False)}
            row["_file"], row["_path"] = name, path
            rows.setdefault(row["pmid"], []).append((number, row))
        return rows

    def _document(self, pmid: str, number: int, title: str, abstract: str,
                  entity_rows: list[tuple[int, dict[str, str]]], relation_rows: list[tuple[int, dict[str, str]]],
                  ctx: ReadContext) -> IEDocument | None:
        opts: BioCreativeTSVOptions = self.options  # type: ignore[assignment]
        text = title + opts.separator + abstract
        start = len(title) + len(opts.separator)
        passages = [Passage(id="title", type="title", offsets=[(0, len(title))]),
                    Passage(id="abstract", type="abstract", offsets=[(start, len(text))])]
        entities: list[Entity] = []
        abstracts_file = ctx.file
        for line, row in entity_rows:
            ctx.file = row["_path"]  # rejects name the entities file, where the line number points
            try:
                spans = [(int(row["start"]), int(row["end"]))]
            except ValueError:
                ctx.reject(f"{row['_file']}: offsets {row['start']!r}-{row['end']!r} are not integers", line=line,
                           record_id=pmid, field="offsets", action="dropped")
                continue
            entity = ctx.entity(text, id=row["id"], type=row["type"], spans=spans, mention=row["text"], line=line,
                                record_id=pmid)
            if entity is not None:
                entities.append(entity)
        ctx.file = abstracts_file
        ids = {e.id for e in entities}
        relations: list[Relation] = []
        for line, row in relation_rows:
            arg1, arg2 = (row[k].split(":", 1)[-1] for k in ("arg1", "arg2"))
            if arg1 not in ids or arg2 not in ids:
                ctx.reject(f"{row['_file']}: relation argument {arg1 if arg1 not in ids else arg2} is not a (kept) "
                           "entity of the document", line=line, record_id=pmid, field="relation", action="dropped")
                continue
            relations.append(Relation(id=f"R{len(relations)}", type=row[opts.relation_type_column], arg1_id=arg1,
                                      arg2_id=arg2))
        return ctx.make(IEDocument, line=number, record_id=pmid, id=ctx.unique_id(pmid), document_id=pmid,
                        split=ctx.split, text=text, passages=passages, entities=entities, relations=relations)
