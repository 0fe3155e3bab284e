"""Flat documents (classification, text pairs, QA, text-to-text, translation) from any structured file.

The record mapping (``curate.readers.mapping``) finds the records (CSV, TSV, JSON, JSON lines, XLSX,
parquet, opt-in pickle); the catalog says which document kind to build (``kind``) and how each schema
field is taken from a record (``fields``), so a new corpus of these kinds needs YAML only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from curate.readers.base import ReadContext, text_lines
from curate.readers.mapping import (
    MISSING,
    FieldValue,
    MappedReader,
    MappingProblem,
    SourceOptions,
    as_spec,
    checked_fields,
    extract,
    get_path,
    is_empty,
    iter_records,
    text_of,
)
from schemas.documents import (
    ClassificationDocument,
    QADocument,
    TextPairDocument,
    TextToTextDocument,
    TranslationDocument,
)

_REQUIRED: dict[str, tuple[str, ...]] = {
    "tc": ("text", "labels"),
    "tp": ("text_1", "text_2", "label"),
    "qa": ("question", "answer"),
    "t2t": ("input", "output"),
    "mt": (),
}


class TabularOptions(SourceOptions):
    """The source options of the record mapping plus the document kind and the schema-field mapping."""

    kind: Literal["tc", "tp", "qa", "t2t", "mt"]
    fields: dict[str, FieldValue] = Field(
        default_factory=dict, description="schema field -> source column or path (`a.b`, `a[0].b`, `a[*].b`; a "
        "list of columns for `choices`), or a mapping {path, paths, join, const, template, transforms, optional}")
    multi_label: bool = False
    label_separator: str | None = Field(None, description="split a label cell into several labels")
    label_columns: list[str] = Field(default_factory=list,
                                     description="multi-label as one 0/1 column per label (e.g. LitCovid CSV)")
    label_map: dict[str, str] = Field(default_factory=dict, description="raw label -> label used downstream")
    skip_labels: list[str] = Field(default_factory=list, description="rows with these labels are rejected")
    where: dict[str, str] = Field(default_factory=dict, description="keep only rows whose column equals the value "
                                  "(e.g. answer-selection pairs: {label: '1'}); others are counted as `filtered`")
    unlabeled: Literal["reject", "keep"] = Field(
        "reject", description="tc/tp rows with an empty label: reject, or keep as documents with no label (an "
        "unlabeled test split: not training data, but seen by decontamination); counted as `unlabeled`")
    qa_type: Literal["yesno", "multiple_choice", "free"] = "free"
    answer_is: Literal["text", "letter", "index"] = "text"
    subtask: str | None = None
    languages: list[str] = Field(default_factory=lambda: ["zh", "en"],
                                 description="mt: the two text columns' languages")

    _fields_checked = field_validator("fields", mode="before")(classmethod(lambda cls, v: checked_fields(v)))

    @model_validator(mode="after")
    def _fields_cover_kind(self) -> TabularOptions:
        needed = [f for f in _REQUIRED[self.kind] if f not in self.fields]
        if self.kind == "tc" and self.label_columns:
            needed = [f for f in needed if f != "labels"]
        if needed:
            raise ValueError(f"fields must map {', '.join(needed)} for kind {self.kind!r}")
        return self


class TabularReader(MappedReader):
    name = "tabular"
    Options = TabularOptions
    description = ("CSV, TSV, JSON, JSON lines, XLSX, parquet (or an opt-in pickle) read through the record "
                   "mapping (`curate.readers.mapping`)")

    def read(self, path: str, ctx: ReadContext) -> Iterator[BaseModel]:
        opts: TabularOptions = self.options  # type: ignore[assignment]
        for line, rid, row in iter_records(path, ctx, opts, self._mapped_columns()):
            if not isinstance(row, dict):
                ctx.reject("record is not a JSON object", line=line, record_id=rid)
                continue
            if opts.where and any(text_of(get_path(row, k)).strip() != v for k, v in opts.where.items()):
                ctx.count("filtered")
                continue
            try:
                doc = self._document(row, line, rid, ctx)
            except MappingProblem as exc:
                ctx.reject(exc.reason, line=line, record_id=rid, field=exc.field)
                continue
            if doc is not None:
                yield doc

    def _mapped_columns(self) -> set[str]:
        opts: TabularOptions = self.options  # type: ignore[assignment]
        out: set[str] = set()
        for value in opts.fields.values():
            spec = as_spec(value)
            out.update([spec.path] if spec.path else spec.paths)
        return out

    def _get(self, row: dict[str, Any], name: str, line: int | None, rid: str, ctx: ReadContext) -> Any:
        """The mapped value of schema field ``name``; an absent source column rejects the record by name."""
        opts: TabularOptions = self.options  # type: ignore[assignment]
        column = opts.fields.get(name)
        if column is None:
            return None
        spec = as_spec(column)
        value = extract(row, spec, name)
        if value is MISSING:
            if isinstance(column, list):
                return [None] * len(column)
            where = spec.path or ", ".join(spec.paths)
            ctx.reject(f"column {where!r} (for {name}) is missing", line=line, record_id=rid, field=name)
            raise KeyError(where)
        if isinstance(column, list):
            return [None if v is MISSING else v for v in value]
        return value

    def _text(self, row: dict[str, Any], name: str, line: int | None, rid: str, ctx: ReadContext) -> str:
        opts: TabularOptions = self.options  # type: ignore[assignment]
        value = self._get(row, name, line, rid, ctx)
        if isinstance(value, float) and math.isnan(value):
            raise MappingProblem(name, "the value is NaN (a bare NaN in JSON, or an empty numeric cell), not text")
        return text_of(value, as_spec(opts.fields[name]).join)

    def _label_value(self, row: dict[str, Any], name: str, line: int | None, rid: str, ctx: ReadContext) -> Any:
        """A label cell; an absent label column reads as empty when unlabeled records are kept."""
        opts: TabularOptions = self.options  # type: ignore[assignment]
        if opts.unlabeled == "keep" and extract(row, as_spec(opts.fields[name]), name) is MISSING:
            return None
        return self._get(row, name, line, rid, ctx)

    def _labels(self, raw: Any) -> list[str]:
        opts: TabularOptions = self.options  # type: ignore[assignment]
        if is_empty(raw):
            return []
        values = raw if isinstance(raw, list) else [raw]
        out: list[str] = []
        for value in values:
            if is_empty(value):
                continue
            text = str(value).strip()
            parts = text.split(opts.label_separator) if opts.label_separator else [text]
            out.extend(opts.label_map.get(p.strip(), p.strip()) for p in parts if p.strip())
        return out

    def _document(self, row: dict[str, Any], line: int | None, rid: str, ctx: ReadContext) -> BaseModel | None:
        opts: TabularOptions = self.options  # type: ignore[assignment]
        doc_id = ctx.unique_id(rid)
        common = {"id": doc_id, "document_id": rid, "split": ctx.split}
        try:
            if opts.kind == "tc":
                if opts.label_columns:
                    labels = [c for c in opts.label_columns if str(row.get(c, "")).strip() in ("1", "1.0", "true")]
                else:
                    labels = self._labels(self._label_value(row, "labels", line, rid, ctx))
                if not labels and not opts.multi_label:
                    if opts.unlabeled == "reject":
                        ctx.reject("the label is empty (set unlabeled: keep for an unlabeled split)", line=line,
                                   record_id=rid, field="labels")
                        return None
                    ctx.count("unlabeled")
                elif any(lab in opts.skip_labels for lab in labels):
                    ctx.reject(f"label {labels} is listed in skip_labels", line=line, record_id=rid, field="labels")
                    return None
                if ctx.labels and any(lab not in ctx.labels for lab in labels):
                    ctx.reject(f"unknown label {[x for x in labels if x not in ctx.labels]}", line=line,
                               record_id=rid, field="labels")
                    return None
                return ctx.make(ClassificationDocument, line=line, record_id=rid, **common,
                                text=self._text(row, "text", line, rid, ctx), labels=labels,
                                multi_label=opts.multi_label)
            if opts.kind == "tp":
                label = self._labels(self._label_value(row, "label", line, rid, ctx))
                if not label and opts.unlabeled == "keep":
                    ctx.count("unlabeled")
                    label = [""]
                elif not label or label[0] in opts.skip_labels:
                    ctx.reject(f"label {label[0] if label else ''!r} is empty or in skip_labels", line=line,
                               record_id=rid, field="label")
                    return None
                if ctx.labels and label[0] and label[0] not in ctx.labels:
                    ctx.reject(f"unknown label {label[0]!r}", line=line, record_id=rid, field="label")
                    return None
                return ctx.make(TextPairDocument, line=line, record_id=rid, **common,
                                subtask=opts.subtask or "ss", text_1=self._text(row, "text_1", line, rid, ctx),
                                text_2=self._text(row, "text_2", line, rid, ctx), label=label[0])
            if opts.kind == "qa":
                return self._qa(row, line, rid, ctx, common)
            if opts.kind == "t2t":
                return ctx.make(TextToTextDocument, line=line, record_id=rid, **common,
                                subtask=opts.subtask or "other", input=self._text(row, "input", line, rid, ctx),
                                output=self._text(row, "output", line, rid, ctx))
            missing = [lang for lang in opts.languages if lang not in opts.fields]
            if missing:
                ctx.reject(f"fields map no column for language(s) {missing}", line=line, record_id=rid,
                           field="texts")
                return None
            texts = {lang: self._text(row, lang, line, rid, ctx) for lang in opts.languages}
            return ctx.make(TranslationDocument, line=line, record_id=rid, **common, texts=texts)
        except KeyError:
            return None

    def _qa(self, row: dict[str, Any], line: int | None, rid: str, ctx: ReadContext,
            common: dict[str, str]) -> QADocument | None:
        opts: TabularOptions = self.options  # type: ignore[assignment]
        raw_choices = self._get(row, "choices", line, rid, ctx) if "choices" in opts.fields else None
        letters: list[str] = []
        if isinstance(raw_choices, dict):
            letters = sorted(raw_choices)
            choices = [str(raw_choices[k]) for k in letters]
        elif isinstance(raw_choices, str) and raw_choices.strip().startswith(("[", "{")):
            try:
                parsed = json.loads(raw_choices)
            except (json.JSONDecodeError, RecursionError) as exc:
                ctx.reject(f"the choices cell is not valid JSON ({getattr(exc, 'msg', 'nested too deeply')}); write "
                           "it as a JSON list or object, or map one column per choice", line=line, record_id=rid,
                           field="choices")
                return None
            if not isinstance(parsed, list | dict):
                ctx.reject("the choices cell is neither a list nor an object", line=line, record_id=rid,
                           field="choices")
                return None
            letters = sorted(parsed) if isinstance(parsed, dict) else []
            choices = [str(parsed[k]) for k in letters] if isinstance(parsed, dict) else [str(c) for c in parsed]
        else:
            choices = [str(c) for c in raw_choices or [] if not is_empty(c)]
        answer_raw = self._labels(self._get(row, "answer", line, rid, ctx))
        if opts.answer_is == "letter":
            keys = letters or [chr(ord("A") + i) for i in range(len(choices))]
            try:
                answer = [choices[keys.index(a)] for a in answer_raw]
            except ValueError:
                ctx.reject(f"answer letter {answer_raw} is not among the options {keys}", line=line, record_id=rid,
                           field="answer")
                return None
        elif opts.answer_is == "index":
            try:
                answer = [choices[int(a)] for a in answer_raw]
            except (ValueError, IndexError):
                ctx.reject(f"answer index {answer_raw} is not among {len(choices)} options", line=line,
                           record_id=rid, field="answer")
                return None
        else:
            answer = answer_raw
        context = self._text(row, "context", line, rid, ctx) if "context" in opts.fields else ""
        return ctx.make(QADocument, line=line, record_id=rid, **common, qa_type=opts.qa_type,
                        question=self._text(row, "question", line, rid, ctx), context=context,
                        choices=choices, answer=answer)


__all__ = ["TabularReader", "text_lines"]
