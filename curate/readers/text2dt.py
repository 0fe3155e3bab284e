"""Text2DT (CHIP 2022): medical decision trees extracted from text.

A record is ``{"text", "tree": [node, ...]}``; each node is a condition (``C``) or decision (``D``) with
``[head, relation, tail]`` triples and a ``logical_rel`` (``and``/``or``/the string ``"null"``), listed in
pre-order (a condition is followed by its yes- then its no-subtree). Triples carry no offsets: head and tail
are located in the text (first occurrence). The reader yields an IE document (entities and relations) whose
``stats`` count the nodes, or a text-to-text document (text -> linearised tree) with ``output: t2t``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from curate.readers.base import ReadContext, Reader
from curate.readers.mapping import SourceOptions, iter_records
from schemas.documents import Entity, IEDocument, Passage, Relation, TextToTextDocument


class Text2DTOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    encoding: str = "utf-8"
    output: Literal["ie", "t2t"] = Field("ie", description="ie: entities and relations (node counts in stats); "
                                         "t2t: text -> the tree as text, one node per line")
    entity_type: str = Field("term", description="type given to located heads and tails (Text2DT has none)")


class Text2DTReader(Reader):
    name = "text2dt"
    Options = Text2DTOptions
    description = "Text2DT decision-tree JSON (nodes of head-relation-tail triples, no offsets)"

    def read(self, path: str, ctx: ReadContext) -> Iterator[BaseModel]:
        opts: Text2DTOptions = self.options  # type: ignore[assignment]
        for line, rid, record in iter_records(path, ctx, SourceOptions(file_format="json", encoding=opts.encoding)):
            tree = record.get("tree") if isinstance(record, dict) else None
            if not isinstance(record, dict) or not isinstance(record.get("text"), str) or not isinstance(tree, list):
                ctx.reject("record has no string `text` and list `tree`", line=line, record_id=rid, field="tree")
                continue
            nodes = [n for n in tree if isinstance(n, dict) and n.get("role") in ("C", "D")]
            if len(nodes) != len(tree):
                ctx.reject("a tree node is not an object with role C or D", line=line, record_id=rid, field="tree")
                continue
            if opts.output == "t2t":
                doc: BaseModel | None = ctx.make(
                    TextToTextDocument, line=line, record_id=rid, id=ctx.unique_id(rid), document_id=rid,
                    split=ctx.split, subtask="other", input=record["text"], output=_linearised(nodes))
            else:
                doc = self._ie(record["text"], nodes, line, rid, ctx)
            if doc is not None:
                yield doc

    def _ie(self, text: str, nodes: list[dict[str, Any]], line: int | None, rid: str,
            ctx: ReadContext) -> IEDocument | None:
        opts: Text2DTOptions = self.options  # type: ignore[assignment]
        entities: dict[str, Entity] = {}
        relations: list[Relation] = []
        for n, node in enumerate(nodes):
            for k, triple in enumerate(node.get("triples") or []):
                where = f"tree[{n}].triples[{k}]"
                if not (isinstance(triple, list) and len(triple) == 3 and all(isinstance(t, str) for t in triple)):
                    ctx.reject("a triple is not [head, relation, tail]", line=line, record_id=rid, field=where,
                               action="dropped")
                    continue
                head, relation, tail = triple
                ids = [self._entity(text, mention, entities, opts.entity_type, line, rid, ctx, where)
                       for mention in (head, tail)]
                if ids[0] is None or ids[1] is None:
                    continue
                relations.append(Relation(id=f"R{n}.{k}", type=relation, arg1_id=ids[0], arg2_id=ids[1]))
        stats = {"tree_nodes": len(nodes), "condition_nodes": sum(1 for x in nodes if x["role"] == "C"),
                 "decision_nodes": sum(1 for x in nodes if x["role"] == "D")}
        return ctx.make(IEDocument, line=line, record_id=rid, id=ctx.unique_id(rid), document_id=rid,
                        split=ctx.split, text=text, passages=[Passage(id="s0", type="text", offsets=[(0, len(text))])],
                        entities=list(entities.values()), relations=relations, stats=stats)

    @staticmethod
    def _entity(text: str, mention: str, entities: dict[str, Entity], etype: str, line: int | None, rid: str,
                ctx: ReadContext, where: str) -> str | None:
        if mention in entities:
            return entities[mention].id
        start = text.find(mention) if mention else -1
        if start < 0:
            ctx.reject(f"argument {mention!r} does not occur in the text; the triple is dropped", line=line,
                       record_id=rid, field=where, action="dropped")
            return None
        entity = ctx.entity(text, id=f"T{len(entities)}", type=etype, spans=[(start, start + len(mention))],
                            mention=mention, line=line, record_id=rid)
        if entity is None:
            return None
        entities[mention] = entity
        return entity.id


def _linearised(nodes: list[dict[str, Any]]) -> str:
    """One line per node in pre-order: ``C and: (head, relation, tail); ...``."""
    lines = []
    for node in nodes:
        rel = node.get("logical_rel")
        triples = "; ".join(f"({', '.join(str(x) for x in t)})" for t in node.get("triples") or []
                            if isinstance(t, list))
        lines.append(f"{node['role']}{'' if rel in (None, 'null') else ' ' + str(rel)}: {triples}")
    return "\n".join(lines)
