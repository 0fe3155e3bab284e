"""The CBLUE family of Chinese medical benchmarks: CMeEE V1/V2, CMeIE, CHIP-CDEE, CHIP-MDCFNPC and IMCS-V2.

CMeEE V2 ends are exclusive, V1 ends inclusive (``end_inclusive: true``); CMeIE has no offsets, so its
arguments are located in the text. The flat CBLUE tasks (CHIP-CTC/STS/CDN, KUAKE-QIC/QQR/QTR/IR) are
read by the ``tabular`` reader with a field mapping (see catalogs/taiyi.yaml and tests/catalogs/shared.yaml).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from curate.readers.base import ReadContext, Reader, json_lines, read_text, text_lines
from schemas.documents import (
    ClassificationDocument,
    DialogueDocument,
    Entity,
    Event,
    EventArgument,
    IEDocument,
    Normalization,
    Passage,
    Relation,
    TextPairDocument,
    TextToTextDocument,
    Turn,
)


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
        except RecursionError:
            ctx.reject("JSON nested too deeply to read", field="(json)")
            return
        for index, record in enumerate(data):
            rid = ctx.position_id(f"#{index}")
            yield None, str(record.get("id", rid)) if isinstance(record, dict) else rid, record
        return
    for number, record in json_lines(text, ctx):
        rid = ctx.position_id(f"line{number}")
        rid = str(record.get("id", rid)) if isinstance(record, dict) else rid
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


class CMeIEOptions(CBLUEJsonOptions):
    pass


class CMeIEReader(Reader):
    name = "cmeie"
    Options = CMeIEOptions
    description = "CBLUE CMeIE spo_list JSON lines; subject/object located in the text (no offsets given)"

    def read(self, path: str, ctx: ReadContext) -> Iterator[IEDocument]:
        opts: CMeIEOptions = self.options  # type: ignore[assignment]
        for line, rid, record in json_records(path, ctx, opts.encoding):
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                ctx.reject("record has no string `text`", line=line, record_id=rid, field="text")
                continue
            text = record["text"]
            entities: dict[tuple[int, int, str], Entity] = {}
            relations: list[Relation] = []
            for i, spo in enumerate(record.get("spo_list") or []):
                try:
                    predicate = str(spo["predicate"])
                    args = [(_value(spo["subject"]), _value(spo["subject_type"]), spo.get("subject_start_idx")),
                            (_value(spo["object"]), _value(spo["object_type"]), spo.get("object_start_idx"))]
                except (KeyError, TypeError) as exc:
                    ctx.reject(f"triple {i} lacks predicate/subject/object ({exc})", line=line, record_id=rid,
                               field=f"spo_list[{i}]", action="dropped")
                    continue
                ids: list[str] = []
                anchor = 0
                for mention, etype, start in args:
                    if not mention:
                        break
                    if start is None:
                        start = _nearest(text, mention, anchor)
                    if start is None or start < 0:
                        break
                    anchor = int(start)
                    key = (int(start), int(start) + len(mention), etype)
                    if key not in entities:
                        entity = ctx.entity(text, id=f"T{len(entities)}", type=etype, spans=[key[:2]],
                                            mention=mention, line=line, record_id=rid)
                        if entity is None:
                            break
                        entities[key] = entity
                    ids.append(entities[key].id)
                if len(ids) != 2:
                    missing = args[len(ids)][0]
                    ctx.reject(f"triple {i} ({predicate}): argument {missing!r} is empty or not found in the text",
                               line=line, record_id=rid, field=f"spo_list[{i}]", action="dropped")
                    continue
                if ctx.labels and predicate not in ctx.labels:
                    ctx.reject(f"unknown predicate {predicate!r}", line=line, record_id=rid, field=f"spo_list[{i}]",
                               action="dropped")
                    continue
                relations.append(Relation(id=f"R{len(relations)}", type=predicate, arg1_id=ids[0], arg2_id=ids[1]))
            doc = ctx.make(IEDocument, line=line, record_id=rid, id=ctx.unique_id(rid), document_id=rid,
                           split=ctx.split, text=text, passages=[Passage(id="s0", type="sentence",
                                                                         offsets=[(0, len(text))])],
                           entities=list(entities.values()), relations=relations)
            if doc is not None:
                yield doc


def _nearest(text: str, mention: str, anchor: int) -> int:
    """Offset of the occurrence of ``mention`` nearest to ``anchor`` (the subject, for an object); -1 if absent.

    CMeIE gives no offsets: a subject is taken at its first occurrence, an object at the occurrence closest to
    its subject, which keeps the pair within one clause when a term repeats.
    """
    best, start = -1, text.find(mention)
    while start >= 0:
        if best < 0 or abs(start - anchor) < abs(best - anchor):
            best = start
        start = text.find(mention, start + 1)
    return best


def _value(field: Any) -> str:
    """CMeIE objects are ``{"@value": "..."}`` (V2) or plain strings (V1)."""
    if isinstance(field, dict):
        return str(field["@value"])
    return str(field)


class CHIPCDEEReader(Reader):
    name = "chip_cdee"
    Options = CBLUEJsonOptions
    description = "CBLUE CHIP-CDEE clinical events JSON (core_name, tendency, character, anatomy_list)"

    def read(self, path: str, ctx: ReadContext) -> Iterator[IEDocument]:
        opts: CBLUEJsonOptions = self.options  # type: ignore[assignment]
        for line, rid, record in json_records(path, ctx, opts.encoding):
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                ctx.reject("record has no string `text`", line=line, record_id=rid, field="text")
                continue
            text = record["text"]
            events: list[Event] = []
            for i, ev in enumerate(record.get("event") or []):
                if not isinstance(ev, dict) or not ev.get("core_name"):
                    ctx.reject(f"event {i} has no core_name", line=line, record_id=rid, field=f"event[{i}]",
                               action="dropped")
                    continue
                arguments = [EventArgument(role="core_name", text=str(ev["core_name"]))]
                arguments += [EventArgument(role="character", text=str(c)) for c in ev.get("character") or []]
                arguments += [EventArgument(role="anatomy", text=str(a)) for a in ev.get("anatomy_list") or []]
                absent = [a.text for a in arguments if a.text not in text]
                if absent:
                    ctx.count("arguments_not_in_text", len(absent))  # CDEE arguments are normalized, not spans
                attributes = {"tendency": str(ev["tendency"])} if ev.get("tendency") else {}
                events.append(Event(id=f"E{i}", type="clinical_event", arguments=arguments, attributes=attributes))
            doc = ctx.make(IEDocument, line=line, record_id=rid, id=ctx.unique_id(rid), document_id=rid,
                           split=ctx.split, text=text, events=events)
            if doc is not None:
                yield doc


class MDCFNPCOptions(CBLUEJsonOptions):
    speaker_prefix: bool = Field(True, description="write `sender：` before each utterance in the text")


class MDCFNPCReader(Reader):
    name = "chip_mdcfnpc"
    Options = MDCFNPCOptions
    description = "CHIP-MDCFNPC dialogues: utterances with clinical-finding mentions (range, attr 阳性/阴性/其他)"

    def read(self, path: str, ctx: ReadContext) -> Iterator[IEDocument]:
        opts: MDCFNPCOptions = self.options  # type: ignore[assignment]
        for line, rid, record in json_records(path, ctx, opts.encoding):
            rid = str(record.get("dialog_id", rid)) if isinstance(record, dict) else rid
            if not isinstance(record, dict) or not isinstance(record.get("dialog_info"), list):
                ctx.reject("record has no `dialog_info` list", line=line, record_id=rid, field="dialog_info")
                continue
            parts: list[str] = []
            passages: list[Passage] = []
            entities: list[Entity] = []
            pos = 0
            for u_index, utt in enumerate(record["dialog_info"]):
                utext, sender = str(utt.get("text", "")), str(utt.get("sender", ""))
                prefix = f"{sender}：" if opts.speaker_prefix and sender else ""
                if u_index:
                    parts.append("\n")
                    pos += 1
                start = pos + len(prefix)
                parts.append(prefix + utext)
                passages.append(Passage(id=f"u{utt.get('sentence_id', u_index)}", type=sender or "utterance",
                                        offsets=[(pos, start + len(utext))]))
                for m_index, ner in enumerate(utt.get("ner") or []):
                    where = f"dialog_info[{u_index}].ner[{m_index}]"
                    try:
                        a, b = (int(x) for x in ner["range"])
                        mention, etype = str(ner["mention"]), str(ner.get("type", "clinical_findings"))
                    except (KeyError, TypeError, ValueError) as exc:
                        ctx.reject(f"mention lacks range/mention ({exc})", line=line, record_id=rid, field=where,
                                   action="dropped")
                        continue
                    entity = ctx.entity(utext, id=f"T{len(entities)}", type=etype, spans=[(a, b)], mention=mention,
                                        line=line, record_id=rid)
                    if entity is None:
                        continue
                    entity.offsets = [(a + start, b + start)]
                    name = str(ner.get("name") or "")
                    if name and name != "undefined":
                        entity.normalized = [Normalization(db_name="CHIP-MDCFNPC", db_id=name)]
                    if ner.get("attr"):
                        entity.attributes = {"attr": str(ner["attr"])}
                    entities.append(entity)
                pos = start + len(utext)
            doc = ctx.make(IEDocument, line=line, record_id=rid, id=ctx.unique_id(rid), document_id=rid,
                           split=ctx.split, text="".join(parts), passages=passages, entities=entities)
            if doc is not None:
                yield doc


class IMCSOptions(CBLUEJsonOptions):
    view: Literal["dialogue", "dialogue_acts", "ner", "report"] = Field(
        "dialogue", description="dialogue: one conversation per example; dialogue_acts: one classified utterance "
        "each (IMCS-DAC); ner: one utterance each with BIO_label entities (IMCS-NER); report: dialogue -> report "
        "(IMCS-MRG)")
    doctor: str = Field("医生", description="speaker name of the doctor (assistant turns)")


class IMCSReader(Reader):
    name = "imcs"
    Options = IMCSOptions
    description = "IMCS-21 / IMCS-V2 dialogue JSON {example_id: {dialogue: [...], report, self_report}}"

    def read(self, path: str, ctx: ReadContext) -> Iterator[Any]:
        opts: IMCSOptions = self.options  # type: ignore[assignment]
        text = read_text(path, ctx, opts.encoding)
        if text is None:
            return
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            ctx.reject(f"invalid JSON ({exc.msg}); the file is truncated or malformed", line=exc.lineno,
                       field="(json)")
            return
        except RecursionError:
            ctx.reject("JSON nested too deeply to read", field="(json)")
            return
        if not isinstance(data, dict):
            ctx.reject("expected a JSON object keyed by example id", field="(json)")
            return
        for eid, example in data.items():
            if not isinstance(example, dict) or not isinstance(example.get("dialogue"), list):
                ctx.reject("example has no `dialogue` list", record_id=eid, field="dialogue")
                continue
            yield from getattr(self, f"_{opts.view}")(eid, example, ctx)

    def _utterances(self, example: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
        return [(str(u.get("speaker", "")), str(u.get("sentence", "")), u) for u in example["dialogue"]
                if isinstance(u, dict) and u.get("sentence")]

    def _dialogue(self, eid: str, example: dict[str, Any], ctx: ReadContext) -> Iterator[DialogueDocument]:
        turns: list[Turn] = []
        for speaker, sentence, _ in self._utterances(example):
            role = "assistant" if speaker == self.options.doctor else "user"  # type: ignore[attr-defined]
            if turns and turns[-1].role == role:
                turns[-1].content += "\n" + sentence
            else:
                turns.append(Turn(role=role, content=sentence))
        doc = ctx.make(DialogueDocument, record_id=eid, id=ctx.unique_id(eid), document_id=eid, split=ctx.split,
                       turns=turns, context=str(example.get("self_report") or ""))
        if doc is not None:
            yield doc

    def _dialogue_acts(self, eid: str, example: dict[str, Any], ctx: ReadContext) -> Iterator[ClassificationDocument]:
        for speaker, sentence, utt in self._utterances(example):
            sid = f"{eid}:{utt.get('sentence_id', '')}"
            act = str(utt.get("dialogue_act") or "")
            if not act or (ctx.labels and act not in ctx.labels):
                ctx.reject(f"dialogue act {act!r} is empty or unknown", record_id=sid, field="dialogue_act")
                continue
            doc = ctx.make(ClassificationDocument, record_id=sid, id=ctx.unique_id(sid), document_id=eid,
                           split=ctx.split, text=f"{speaker}：{sentence}", labels=[act])
            if doc is not None:
                yield doc

    def _ner(self, eid: str, example: dict[str, Any], ctx: ReadContext) -> Iterator[IEDocument]:
        for _, sentence, utt in self._utterances(example):
            sid = f"{eid}:{utt.get('sentence_id', '')}"
            tags = str(utt.get("BIO_label", "")).split()
            if len(tags) != len(sentence):
                ctx.reject(f"{len(tags)} BIO labels for {len(sentence)} characters", record_id=sid, field="BIO_label")
                continue
            entities: list[Entity] = []
            start: int | None = None
            etype = ""
            for i, tag in enumerate([*tags, "O"]):
                if start is not None and not (tag.startswith("I-") and tag[2:] == etype):
                    entities.append(Entity(id=f"T{len(entities)}", type=etype, offsets=[(start, i)],
                                           text=[sentence[start:i]]))
                    start = None
                if tag.startswith("B-") or (tag.startswith("I-") and start is None):
                    start, etype = i, tag[2:]
            doc = ctx.make(IEDocument, record_id=sid, id=ctx.unique_id(sid), document_id=eid, split=ctx.split,
                           text=sentence, entities=entities)
            if doc is not None:
                yield doc

    def _report(self, eid: str, example: dict[str, Any], ctx: ReadContext) -> Iterator[TextToTextDocument]:
        reports = example.get("report") or []
        report = reports[0] if isinstance(reports, list) and reports else reports
        if not report:
            ctx.reject("example has no report", record_id=eid, field="report")
            return
        output = "\n".join(f"{k}：{v}" for k, v in report.items()) if isinstance(report, dict) else str(report)
        sections = {str(k): str(v) for k, v in report.items()} if isinstance(report, dict) else {}
        dialogue = "\n".join(f"{s}：{t}" for s, t, _ in self._utterances(example))
        doc = ctx.make(TextToTextDocument, record_id=eid, id=ctx.unique_id(eid), document_id=eid, split=ctx.split,
                       subtask="report", input=dialogue, output=output, output_sections=sections)
        if doc is not None:
            yield doc


class KuakeIROptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    encoding: str = "utf-8"
    corpus_file: str = Field("corpus.tsv", description="`doc_id<TAB>passage` lines, beside the qrels file")
    query_file: str = Field("{stem}_query.txt", description="`query_id<TAB>query` lines; {stem} = qrels file name "
                                                            "without extension (KUAKE-IR_train.tsv -> "
                                                            "KUAKE-IR_train_query.txt)")
    negatives_per_query: int = Field(1, ge=0, description="non-relevant passages paired with each query, chosen "
                                                          "by a hash of the query id (deterministic)")


class KuakeIRReader(Reader):
    """KUAKE-IR: a qrels file (``query_id<TAB>doc_id``) joined with its query file and the passage corpus into
    query-passage pairs labelled ``relevant``, plus hash-chosen ``irrelevant`` pairs so the task is a real
    choice (KUAKE-IR publishes positives only)."""

    name = "kuake_ir"
    Options = KuakeIROptions
    description = "CBLUE KUAKE-IR: qrels + queries + passage corpus -> relevant/irrelevant query-passage pairs"

    def _table(self, path: str, ctx: ReadContext, what: str) -> dict[str, str] | None:
        text = read_text(path, ctx, self.options.encoding)  # type: ignore[attr-defined]
        if text is None:
            return None
        table: dict[str, str] = {}
        for number, line in text_lines(text):
            if not line.strip():
                continue
            cols = line.split("\t")
            if len(cols) < 2:
                ctx.reject(f"{what} line has {len(cols)} column(s), expected id<TAB>text", line=number,
                           record_id=f"{Path(path).name}:{number}", field="(columns)")
                continue
            table[cols[0].strip()] = cols[1].strip()
        return table

    def read(self, path: str, ctx: ReadContext) -> Iterator[TextPairDocument]:
        import hashlib

        opts: KuakeIROptions = self.options  # type: ignore[assignment]
        folder, stem = Path(path).parent, Path(path).stem
        corpus = self._table(str(folder / opts.corpus_file), ctx, "corpus")
        queries = self._table(str(folder / opts.query_file.format(stem=stem)), ctx, "query")
        text = read_text(path, ctx, opts.encoding)
        if corpus is None or queries is None or text is None:
            return
        doc_ids = sorted(corpus)
        relevant: dict[str, list[str]] = {}
        for number, line in text_lines(text):
            if not line.strip():
                continue
            cols = line.split("\t")
            if len(cols) < 2:
                ctx.reject(f"qrels line has {len(cols)} column(s), expected query_id<TAB>doc_id", line=number,
                           record_id=f"line{number}", field="(columns)")
                continue
            qid, did = cols[0].strip(), cols[1].strip()
            if qid not in queries:
                ctx.reject(f"query id {qid!r} is not in the query file", line=number, record_id=qid,
                           field="query_id")
                continue
            if did not in corpus:
                ctx.reject(f"document id {did!r} is not in the corpus", line=number, record_id=qid, field="doc_id")
                continue
            relevant.setdefault(qid, []).append(did)
            doc = ctx.make(TextPairDocument, line=number, record_id=qid, id=ctx.unique_id(f"{qid}:{did}"),
                           document_id=qid, split=ctx.split, subtask="ss", text_1=queries[qid], text_2=corpus[did],
                           label="relevant")
            if doc is not None:
                yield doc
        for qid in sorted(relevant):
            taken = set(relevant[qid])
            for n in range(opts.negatives_per_query):
                start = int.from_bytes(hashlib.blake2b(f"{qid}\x1f{n}".encode(), digest_size=8).digest(), "little")
                for step in range(len(doc_ids)):
                    did = doc_ids[(start + step) % len(doc_ids)]
                    if did not in taken:
                        break
                else:
                    break
                taken.add(did)
                doc = ctx.make(TextPairDocument, record_id=qid, id=ctx.unique_id(f"{qid}:{did}:neg"),
                               document_id=qid, split=ctx.split, subtask="ss", text_1=queries[qid],
                               text_2=corpus[did], label="irrelevant")
                if doc is not None:
                    yield doc
