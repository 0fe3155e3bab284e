"""The output of a build: one instruction record per rendered example, in chat form.

A record carries everything needed to train on it (``messages``), to trace it back to its source
(``provenance``) and to score a model's answer to it (``answer_format`` and ``gold``).
"""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str


class Provenance(BaseModel):
    """Where a record came from: the source document, the source file and the catalog entry version."""

    model_config = ConfigDict(extra="forbid")

    document_id: str
    example_id: str
    source_file: str
    catalog_entry_hash: str


class InstructionRecord(BaseModel):
    """One training or evaluation example. ``id`` is a hash of source ids, template id and seed."""

    model_config = ConfigDict(extra="forbid")

    id: str
    dataset: str
    split: str
    task: str
    subtask: str = ""
    source_lang: Literal["en", "zh"]
    prompt_lang: Literal["en", "zh"]
    template_id: str
    messages: list[Message] = Field(min_length=2)
    answer_format: str
    gold: str = Field(description="the gold answer structure as canonical JSON, for `curate eval`")
    provenance: Provenance
    answer_fields: str = Field("", description="canonical JSON of what the answer format needs to read an "
                               "answer back: label options (raw) and their names in the prompt language "
                               "(`labels`), choices, mentions, roles; empty in builds before it existed")


# Parquet column order of a shard; also the order of InstructionRecord fields.
RECORD_COLUMNS: tuple[str, ...] = tuple(InstructionRecord.model_fields)


def _arrow_schema() -> pa.Schema:
    """The parquet schema of a shard, in RECORD_COLUMNS order: what the build's writer casts every shard to."""
    messages = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    provenance = pa.struct([(name, pa.string()) for name in Provenance.model_fields])
    types = {"messages": messages, "provenance": provenance}
    return pa.schema([(name, types.get(name, pa.string())) for name in RECORD_COLUMNS])


RECORD_SCHEMA: pa.Schema = _arrow_schema()
MESSAGES_TYPE: pa.DataType = RECORD_SCHEMA.field("messages").type
PROVENANCE_TYPE: pa.DataType = RECORD_SCHEMA.field("provenance").type
