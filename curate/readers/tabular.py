"""Generic tabular and JSON sources (CSV, TSV, JSON lines, JSON arrays, parquet) with a field mapping.

The catalog says which document kind to build (``kind``) and which source column feeds which schema
field (``fields``), so a new classification, text-pair, QA or text-to-text set needs YAML only.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from curate.readers.base import ReadContext, Reader, open_bytes, read_text, text_lines
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


class TabularOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file_format: Literal["csv", "tsv", "jsonl", "json", "parquet"] | None = Field(
        None, description="defaults to the file extension")
    encoding: str = "utf-8"
    header: bool | Literal["auto"] = Field(
        True, description="CSV/TSV: the first row names the columns; auto: it does when it holds every mapped "
        "column name (for splits that differ, e.g. BioBERT GAD train without and test with a header)")
    columns: list[str] = Field(default_factory=list, description="CSV/TSV column names when there is no header")
    quoting: bool = Field(True, description="CSV/TSV: honour double-quote quoting")
    kind: Literal["tc", "tp", "qa", "t2t", "mt"]
    fields: dict[str, str | list[str]] = Field(
        default_factory=dict, description="schema field -> source column (a list of columns for `choices`)")
    id_field: str | None = Field(
        None, description="column holding the record id (default: the file's stem and row number)")
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

    @model_validator(mode="after")
    def _fields_cover_kind(self) -> TabularOptions:
        needed = [f for f in _REQUIRED[self.kind] if f not in self.fields]
        if self.kind == "tc" and self.label_columns:
            needed = [f for f in needed if f != "labels"]
        if needed:
            raise ValueError(f"fields must map {', '.join(needed)} for kind {self.kind!r}")
        return self


class TabularReader(Reader):
    name = "tabular"
    Options = TabularOptions
    description = "CSV, TSV, JSON lines, JSON arrays or parquet with a column mapping"

    def read(self, path: str, ctx: ReadContext) -> Iterator[BaseModel]:
        opts: TabularOptions = self.options  # type: ignore[assignment]
        for line, rid, row in self._rows(path, ctx):
            if opts.where and any(str(row.get(k, "")).strip() != v for k, v in opts.where.items()):
                ctx.count("filtered")
                continue
            doc = self._document(row, line, rid, ctx)
            if doc is not None:
                yield doc

    def _format(self, path: str) -> str:
        opts: TabularOptions = self.options  # type: ignore[assignment]
        if opts.file_format:
            return opts.file_format
        name = path.split("!")[-1].removesuffix(".gz")
        for ext, fmt in ((".tsv", "tsv"), (".txt", "tsv"), (".csv", "csv"), (".jsonl", "jsonl"),
                         (".json", "json"), (".parquet", "parquet")):
            if name.endswith(ext):
                return fmt
        return "csv"

    def _rows(self, path: str, ctx: ReadContext) -> Iterator[tuple[int | None, str, dict[str, Any]]]:
        opts: TabularOptions = self.options  # type: ignore[assignment]
        fmt = self._format(path)
        if fmt == "parquet":
            import pyarrow.parquet as pq

            try:
                table = pq.read_table(io.BytesIO(open_bytes(path)))
            except Exception as exc:  # pyarrow raises several types for a bad file
                ctx.reject(f"cannot read parquet: {exc}", field="(file)")
                return
            for index, row in enumerate(table.to_pylist()):
                yield None, self._rid(row, ctx.position_id(f"#{index}")), row
            return
        if fmt in ("json", "jsonl"):
            from curate.readers.cblue import json_records

            for line, rid, record in json_records(path, ctx, opts.encoding):
                if not isinstance(record, dict):
                    ctx.reject("record is not a JSON object", line=line, record_id=rid)
                    continue
                yield line, self._rid(record, rid), record
            return
        text = read_text(path, ctx, opts.encoding)
        if text is None:
            return
        delimiter = "\t" if fmt == "tsv" else ","
        quoting = csv.QUOTE_MINIMAL if opts.quoting else csv.QUOTE_NONE
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting)
        names = list(opts.columns)
        try:
            if opts.header == "auto":
                first = next(reader, [])
                mapped = {c for v in opts.fields.values() for c in ([v] if isinstance(v, str) else v)}
                if mapped and mapped <= {c.strip() for c in first}:
                    names = [c.strip() for c in first]
                else:
                    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting)
            elif opts.header:
                names = next(reader)
                if opts.columns:
                    names = list(opts.columns)
            for cells in reader:
                number = reader.line_num
                if not any(c.strip() for c in cells):
                    continue
                if len(cells) < len(names):
                    ctx.reject(f"row has {len(cells)} columns, expected {len(names)} ({', '.join(names)})",
                               line=number, record_id=f"line{number}", field="(columns)")
                    continue
                row = dict(zip(names, cells, strict=False))
                yield number, self._rid(row, ctx.position_id(f"line{number}")), row
        except csv.Error as exc:
            ctx.reject(f"CSV syntax error: {exc}", line=reader.line_num, field="(csv)")

    def _rid(self, row: dict[str, Any], default: str) -> str:
        opts: TabularOptions = self.options  # type: ignore[assignment]
        if opts.id_field and row.get(opts.id_field) not in (None, ""):
            return str(row[opts.id_field])
        return default

    def _get(self, row: dict[str, Any], name: str, line: int | None, rid: str, ctx: ReadContext) -> Any:
        opts: TabularOptions = self.options  # type: ignore[assignment]
        column = opts.fields.get(name)
        if column is None:
            return None
        if isinstance(column, list):
            return [row.get(c) for c in column]
        if column not in row:
            ctx.reject(f"column {column!r} (for {name}) is missing", line=line, record_id=rid, field=name)
            raise KeyError(column)
        return row[column]

    def _labels(self, raw: Any) -> list[str]:
        opts: TabularOptions = self.options  # type: ignore[assignment]
        if raw is None:
            return []
        values = raw if isinstance(raw, list) else [raw]
        out: list[str] = []
        for value in values:
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
                    labels = self._labels(self._get(row, "labels", line, rid, ctx))
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
                                text=str(self._get(row, "text", line, rid, ctx)), labels=labels,
                                multi_label=opts.multi_label)
            if opts.kind == "tp":
                label = self._labels(self._get(row, "label", line, rid, ctx))
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
                                subtask=opts.subtask or "ss", text_1=str(self._get(row, "text_1", line, rid, ctx)),
                                text_2=str(self._get(row, "text_2", line, rid, ctx)), label=label[0])
            if opts.kind == "qa":
                return self._qa(row, line, rid, ctx, common)
            if opts.kind == "t2t":
                return ctx.make(TextToTextDocument, line=line, record_id=rid, **common,
                                subtask=opts.subtask or "other", input=str(self._get(row, "input", line, rid, ctx)),
                                output=str(self._get(row, "output", line, rid, ctx)))
            texts = {lang: str(row[col]) for lang, col in zip(opts.languages, [opts.fields[k] for k in opts.languages],
                                                               strict=True)}
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
            parsed = json.loads(raw_choices)
            letters = sorted(parsed) if isinstance(parsed, dict) else []
            choices = [str(parsed[k]) for k in letters] if isinstance(parsed, dict) else [str(c) for c in parsed]
        else:
            choices = [str(c) for c in raw_choices or [] if c not in (None, "")]
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
        context = self._get(row, "context", line, rid, ctx) if "context" in opts.fields else ""
        if isinstance(context, list):
            context = "\n".join(str(c) for c in context)
        return ctx.make(QADocument, line=line, record_id=rid, **common, qa_type=opts.qa_type,
                        question=str(self._get(row, "question", line, rid, ctx)), context=str(context or ""),
                        choices=choices, answer=answer)


__all__ = ["TabularReader", "text_lines"]
