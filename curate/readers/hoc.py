"""Hallmarks-of-Cancer style corpora: ``text/<id>.txt`` (one sentence per line) with ``labels/<id>.txt``.

Each ``<``-introduced field of the labels file belongs to one sentence; labels inside a field are joined by
``AND`` and hierarchy levels by ``--``. The document gets the union of its sentences' labels (multi-label).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from curate.readers.base import ReadContext, Reader, path_exists, read_text
from schemas.documents import ClassificationDocument


class HoCOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    encoding: str = "utf-8"
    text_dir: str = Field("text", description="folder name of the texts; the catalog lists text files")
    labels_dir: str = Field("labels", description="sibling folder holding a labels file of the same name")
    hierarchy: Literal["top", "full"] = Field(
        "top", description="top: keep the top-level hallmark of `A--B`; full: keep `A--B` as the label")
    field_marker: str = "<"
    label_joiner: str = "AND"
    level_separator: str = "--"
    null_labels: list[str] = Field(default_factory=lambda: ["NULL"], description="read as no label")


class HoCReader(Reader):
    name = "hoc"
    Options = HoCOptions
    description = "per-document text + labels folders (Hallmarks of Cancer), multi-label"

    def read(self, path: str, ctx: ReadContext) -> Iterator[ClassificationDocument]:
        opts: HoCOptions = self.options  # type: ignore[assignment]
        doc_id = PurePosixPath(path.replace("!", "/")).stem
        head, _, name = path.rpartition("/")
        parent, _, folder = head.rpartition("/")
        if folder != opts.text_dir:
            ctx.reject(f"the text file is not in a folder named {opts.text_dir!r}", record_id=doc_id, field="(file)")
            return
        labels_path = f"{parent}/{opts.labels_dir}/{name}"
        if not path_exists(labels_path):
            ctx.reject(f"no labels file {opts.labels_dir}/{name} for this text", record_id=doc_id, field="(file)")
            return
        text = read_text(path, ctx, opts.encoding)
        if text is None:
            return
        raw = read_text(labels_path, ctx, opts.encoding) if _has_content(labels_path) else ""
        if raw is None:
            return
        fields = raw.split(opts.field_marker)[1:] if opts.field_marker in raw else []
        sentences = [line for line in text.rstrip("\n").split("\n")]
        if raw.strip() and len(fields) != len(sentences):
            ctx.reject(f"labels file has {len(fields)} fields for {len(sentences)} sentences; labels kept for the "
                       "document", record_id=doc_id, field="labels", action="repaired")
        labels: list[str] = []
        for field_text in fields:
            for piece in field_text.split(opts.label_joiner):
                label = piece.strip()
                if opts.hierarchy == "top":
                    label = label.split(opts.level_separator)[0].strip()
                if label and label not in opts.null_labels and label not in labels:
                    labels.append(label)
        if ctx.labels and any(lab not in ctx.labels for lab in labels):
            ctx.reject(f"unknown label {[lab for lab in labels if lab not in ctx.labels]}", record_id=doc_id,
                       field="labels")
            return
        doc = ctx.make(ClassificationDocument, record_id=doc_id, id=ctx.unique_id(doc_id), document_id=doc_id,
                       split=ctx.split, text=text.rstrip("\n"), labels=labels, multi_label=True)
        if doc is not None:
            yield doc


def _has_content(path: str) -> bool:
    """An empty labels file means "no label", which is valid for HoC; read_text would reject it as empty."""
    from curate.readers.base import open_bytes

    return bool(open_bytes(path).strip())
