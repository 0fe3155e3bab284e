"""From a build's stage manifest to token sequences a worker can train on, deterministically.

Records are read from the manifest's train shards, ordered by their stable id, rendered with the model's chat
template, and labelled only on assistant turns (-100 elsewhere). With packing, examples are bin-packed
(best-fit decreasing, ties by id) into ``max_seq_len`` rows whose ``position_ids`` restart at 0 per
example, so attention stays within each example. The epoch order and each rank's micro-batches are pure
functions of (seed, epoch, rank): all workers run the same number of steps; a resumed run, the same batches.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate import storage
from curate.build_dir import BuildDir

IGNORE_INDEX = -100


class DataError(ValueError):
    """A user error in the training data: the message names the file and the fix."""


@dataclass(frozen=True)
class Example:
    """One tokenized chat record. ``labels`` is -100 except on assistant tokens."""

    id: str
    input_ids: list[int]
    labels: list[int]


@dataclass
class TokenizeStats:
    records: int = 0
    truncated: int = 0
    dropped_no_assistant_tokens: int = 0
    tokens: int = 0


@dataclass
class PackedRow:
    """A training row: one or more examples concatenated, with positions restarting per example."""

    input_ids: list[int] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    position_ids: list[int] = field(default_factory=list)
    example_ids: list[str] = field(default_factory=list)

    def add(self, ex: Example) -> None:
        self.input_ids.extend(ex.input_ids)
        self.labels.extend(ex.labels)
        self.position_ids.extend(range(len(ex.input_ids)))
        self.example_ids.append(ex.id)


# ---------------------------------------------------------------- manifests and records


def read_manifest(build_dir: str | Path, stage: str) -> tuple[dict[str, Any], Path]:
    """The parsed ``BUILD/<stage>/manifest.json`` and its folder; errors name the missing path."""
    build = BuildDir(build_dir, DataError).require()
    if not build.has_output(stage):
        manifest_path = storage.display(build.path / stage / "manifest.json")
        found = build.outputs_found()
        raise DataError(
            f"{manifest_path} not found: the build has no stage {stage!r} (stages with a manifest: {found}); "
            "fix the stage's `data:` key in the training config or rebuild"
        )
    return build.output_manifest(stage), build.path / stage


def shard_paths(build_dir: str | Path, stage: str, splits: Sequence[str] = ("train",)) -> list[Path]:
    """Paths of the stage's shards whose split is in ``splits``; each must exist and be non-empty overall."""
    folder = read_manifest(build_dir, stage)[1]
    build = BuildDir(build_dir, DataError)
    paths = build.shards(stage, splits)
    if not paths or build.rows(stage, splits) == 0:
        raise DataError(
            f"{storage.display(folder / 'manifest.json')} has no rows with split in {list(splits)}: "
            f"stage {stage!r} is empty; "
            "check the catalog's stage definition or pick another split"
        )
    return paths


def read_records(paths: Iterable[Path], columns: Sequence[str] = ("id", "messages")) -> list[dict[str, Any]]:
    """Records of the given parquet shards, ordered by stable id (independent of shard layout)."""
    records: list[dict[str, Any]] = []
    for p in paths:
        records.extend(storage.read_parquet(p, columns=list(columns)).to_pylist())
    records.sort(key=lambda r: r["id"])
    return records


# ---------------------------------------------------------------- tokenization with assistant-only labels


def _chat_texts(tokenizer: Any, msgs: list[dict[str, str]]) -> list[str]:
    """The whole conversation's rendering, then per assistant turn i: ``messages[:i]`` with the generation
    prompt and ``messages[:i+1]`` (see ``tokenize_chat``)."""
    texts = [tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=False)]
    for i, m in enumerate(msgs):
        if m["role"] == "assistant":
            texts.append(tokenizer.apply_chat_template(msgs[:i], tokenize=False, add_generation_prompt=True))
            texts.append(
                texts[0]
                if i == len(msgs) - 1  # the whole conversation: rendered already
                else tokenizer.apply_chat_template(msgs[: i + 1], tokenize=False, add_generation_prompt=False)
            )
    return texts


_NOT_A_PREFIX = (
    "the tokenizer's chat template does not render a conversation prefix as a token prefix; "
    "use a template where it does (e.g. ChatML) to get assistant-only labels"
)


def _labels_by_prefix_tokens(tokenizer: Any, texts: list[str]) -> tuple[list[int], list[int]]:
    """Reference method: encode every prefix rendering and label the tokens between them (three encodings
    of a single-turn conversation)."""
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    full = list(encoded[0])
    labels = [IGNORE_INDEX] * len(full)
    for j in range(1, len(texts), 2):
        start, upto = len(encoded[j]), encoded[j + 1]
        if full[: len(upto)] != upto:
            raise DataError(_NOT_A_PREFIX)
        labels[start : len(upto)] = full[start : len(upto)]
    return full, labels


def _token_at(encoding: Any, char: int, length: int, num_tokens: int) -> int | None:
    """The index of the token that starts exactly at character ``char`` of a text of ``length`` characters
    (``num_tokens`` at its end); None where a token straddles ``char``."""
    if char == length:
        return num_tokens
    token = encoding.char_to_token(char)
    if token is None or encoding.offsets[token][0] != char:
        return None
    return token


def tokenize_chats(
    tokenizer: Any, conversations: Sequence[list[dict[str, str]]]
) -> list[tuple[list[int], list[int]]]:
    """``tokenize_chat`` for many conversations, with one batched tokenizer call.

    Only each whole conversation is encoded (a fast tokenizer maps characters to tokens): an assistant turn
    is the characters between the rendering of ``messages[:i]`` with the generation prompt and that of
    ``messages[:i+1]``, and its tokens are those of the whole encoding that start and end inside it. That is
    the reference method's result (which encoded every prefix too, three encodings of a single-turn
    conversation) wherever tokens do not cross a turn's boundary; a conversation where one does falls back
    to the reference method, which raises if the template does not render a prefix as a token prefix.
    """
    rendered: list[list[str]] = []
    for messages in conversations:
        rendered.append(_chat_texts(tokenizer, [{"role": m["role"], "content": m["content"]} for m in messages]))
    if not rendered:
        return []
    batch = tokenizer([texts[0] for texts in rendered], add_special_tokens=False)
    encodings = batch.encodings if getattr(tokenizer, "is_fast", False) else None
    out: list[tuple[list[int], list[int]]] = []
    for k, texts in enumerate(rendered):
        full = batch["input_ids"][k]
        labelled = _labels_by_characters(encodings[k], texts, full) if encodings is not None else None
        out.append(labelled if labelled is not None else _labels_by_prefix_tokens(tokenizer, texts))
    return out


def _labels_by_characters(encoding: Any, texts: list[str], full: list[int]) -> tuple[list[int], list[int]] | None:
    """Assistant-only labels from character spans of the whole rendering; None where a span's edge falls
    inside a token or a prefix rendering is not a prefix of the whole."""
    whole, n = texts[0], len(full)
    labels = [IGNORE_INDEX] * n
    for j in range(1, len(texts), 2):
        before, through = texts[j], texts[j + 1]
        if not (through.startswith(before) and whole.startswith(through)):
            return None
        start = _token_at(encoding, len(before), len(whole), n)
        stop = _token_at(encoding, len(through), len(whole), n)
        if start is None or stop is None:
            return None
        labels[start:stop] = full[start:stop]
    return full, labels  # the batch's own list: nothing else holds it


def tokenize_chat(tokenizer: Any, messages: list[dict[str, str]]) -> tuple[list[int], list[int]]:
    """Token ids of a whole conversation and labels that keep only assistant turns.

    Works with any chat template that renders a prefix of a conversation as a prefix of the whole (true of
    ChatML/Qwen, Llama and GLM templates): for assistant turn i, the tokens between the rendering of
    ``messages[:i]`` with the generation prompt and the rendering of ``messages[:i+1]`` are that turn's
    answer plus its end-of-turn token(s); those are the only labelled tokens.
    """
    return tokenize_chats(tokenizer, [messages])[0]


TOKENIZE_BATCH = 256  # conversations per batched tokenizer call


def tokenize_records(
    tokenizer: Any, records: Iterable[dict[str, Any]], max_seq_len: int
) -> tuple[list[Example], TokenizeStats]:
    """Tokenize records in order; truncate from the right; drop those left with no assistant token."""
    stats = TokenizeStats()
    out: list[Example] = []
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        for rec, (ids, labels) in zip(batch, tokenize_chats(tokenizer, [r["messages"] for r in batch]), strict=True):
            stats.records += 1
            if len(ids) > max_seq_len:
                stats.truncated += 1
                ids, labels = ids[:max_seq_len], labels[:max_seq_len]
            if labels[1:].count(IGNORE_INDEX) == max(len(labels) - 1, 0):  # no label past the first (C-speed count)
                stats.dropped_no_assistant_tokens += 1
                continue
            stats.tokens += len(ids)
            out.append(Example(id=rec["id"], input_ids=ids, labels=labels))
        batch.clear()

    for rec in records:
        batch.append(rec)
        if len(batch) >= TOKENIZE_BATCH:
            flush()
    flush()
    return out, stats


# ---------------------------------------------------------------- packing


def pack_groups(examples: Sequence[Example], max_seq_len: int) -> list[list[int]]:
    """Best-fit-decreasing bin packing into rows of at most ``max_seq_len`` tokens; deterministic. Returns
    each row as the indices of its examples, in the order they joined it.

    Longest first (ties by id); each example goes to the open row with the least room that still fits it
    (lowest row index among equals). Rows come back ordered by their first example's id.
    """
    order = sorted(range(len(examples)), key=lambda i: (-len(examples[i].input_ids), examples[i].id))
    groups: list[list[int]] = []
    room: list[int] = []
    # capacity -> row indices with exactly that room left (ascending), and the sorted distinct capacities
    by_room: dict[int, list[int]] = {}
    caps: list[int] = []
    for i in order:
        n = len(examples[i].input_ids)
        if n > max_seq_len:
            raise ValueError(f"example {examples[i].id} has {n} tokens > max_seq_len {max_seq_len}; truncate first")
        k = bisect.bisect_left(caps, n)
        if k < len(caps):
            cap = caps[k]
            r = by_room[cap].pop(0)
            if not by_room[cap]:
                del by_room[cap]
                caps.pop(k)
        else:
            r = len(groups)
            groups.append([])
            room.append(max_seq_len)
        groups[r].append(i)
        room[r] -= n
        if room[r] > 0:
            if room[r] not in by_room:
                bisect.insort(caps, room[r])
                by_room[room[r]] = []
            bisect.insort(by_room[room[r]], r)
    groups.sort(key=lambda group: examples[group[0]].id)
    return groups


def rows_of(examples: Sequence[Example], groups: Iterable[Sequence[int]]) -> list[PackedRow]:
    """The ``PackedRow`` of each group of example indices."""
    rows = []
    for group in groups:
        row = PackedRow()
        for i in group:
            row.add(examples[i])
        rows.append(row)
    return rows


def pack_examples(examples: Sequence[Example], max_seq_len: int) -> list[PackedRow]:
    """The rows of ``pack_groups``: best-fit decreasing, rows ordered by their first example's id."""
    return rows_of(examples, pack_groups(examples, max_seq_len))


def unpacked_rows(examples: Sequence[Example]) -> list[PackedRow]:
    """One row per example (packing off); padding happens per micro-batch in ``collate``."""
    return rows_of(examples, ([i] for i in range(len(examples))))


def padded_length_of(lengths: Sequence[int], micro_batch_size: int, packing: bool, max_seq_len: int) -> int:
    """Tokens rows of these lengths (in training-row order) occupy once padded: every row to ``max_seq_len``
    when packed, else to the longest row of its micro-batch (rows taken in order)."""
    if packing:
        return len(lengths) * max_seq_len
    total = 0
    for s in range(0, len(lengths), micro_batch_size):
        batch = lengths[s : s + micro_batch_size]
        total += len(batch) * max(batch)
    return total


def efficiency_of(lengths: Sequence[int], micro_batch_size: int, packing: bool, max_seq_len: int) -> float:
    """Share of non-padding tokens in the padded batches of rows of these lengths (1.0 = no padding)."""
    return sum(lengths) / max(1, padded_length_of(lengths, micro_batch_size, packing, max_seq_len))


def padded_length(rows: Sequence[PackedRow], micro_batch_size: int, packing: bool, max_seq_len: int) -> int:
    """Tokens the rows occupy once padded (see ``padded_length_of``)."""
    return padded_length_of([len(r.input_ids) for r in rows], micro_batch_size, packing, max_seq_len)


def packing_efficiency(
    rows: Sequence[PackedRow], micro_batch_size: int, packing: bool, max_seq_len: int
) -> float:
    """Share of non-padding tokens in the padded batches (1.0 = no padding at all)."""
    return efficiency_of([len(r.input_ids) for r in rows], micro_batch_size, packing, max_seq_len)


# ---------------------------------------------------------------- batches: identical on every rank


def global_batch_size(micro_batch_size: int, grad_accum: int, world_size: int) -> int:
    return micro_batch_size * grad_accum * world_size


def steps_per_epoch(num_rows: int, micro_batch_size: int, grad_accum: int, world_size: int) -> int:
    """Optimizer steps per epoch; the last partial global batch is dropped so no rank waits for another."""
    return num_rows // global_batch_size(micro_batch_size, grad_accum, world_size)


def epoch_order(num_rows: int, seed: int, epoch: int) -> list[int]:
    """The row order of an epoch: a permutation seeded by (seed, epoch), the same on every rank."""
    import numpy as np

    return np.random.default_rng([seed, epoch]).permutation(num_rows).tolist()


def rank_micro_batches(
    order: Sequence[int], step: int, rank: int, world_size: int, micro_batch_size: int, grad_accum: int
) -> list[list[int]]:
    """Row indices of the ``grad_accum`` micro-batches rank ``rank`` runs for optimizer step ``step``."""
    out = []
    for a in range(grad_accum):
        start = ((step * grad_accum + a) * world_size + rank) * micro_batch_size
        chunk = list(order[start : start + micro_batch_size])
        assert len(chunk) == micro_batch_size, "step beyond steps_per_epoch"
        out.append(chunk)
    return out


def collate(rows: Sequence[PackedRow], pad_id: int, packing: bool, max_seq_len: int) -> dict[str, Any]:
    """Tensors for one micro-batch.

    Packed rows are right-padded to ``max_seq_len`` and carry ``position_ids`` but no attention mask: the
    model derives a block-diagonal causal mask from the position resets (transformers' packed-sequence path;
    flash-attention-2 uses them as varlen boundaries). Padding forms its own segment with labels -100.
    Unpacked rows are padded to the longest row with a 2D attention mask.
    """
    import torch

    width = max_seq_len if packing else max(len(r.input_ids) for r in rows)
    ids, labels, pos, mask = [], [], [], []
    for r in rows:
        pad = width - len(r.input_ids)
        ids.append(r.input_ids + [pad_id] * pad)
        labels.append(r.labels + [IGNORE_INDEX] * pad)
        pos.append(r.position_ids + list(range(pad)))
        mask.append([1] * len(r.input_ids) + [0] * pad)
    batch: dict[str, Any] = {
        "input_ids": torch.tensor(ids, dtype=torch.long),
        "labels": torch.tensor(labels, dtype=torch.long),
    }
    if packing:
        batch["position_ids"] = torch.tensor(pos, dtype=torch.long)
    else:
        batch["attention_mask"] = torch.tensor(mask, dtype=torch.long)
    return batch


# ---------------------------------------------------------------- rows as a table (for Ray Data and caching)


def rows_to_table(rows: Sequence[PackedRow]) -> Any:
    import pyarrow as pa

    return pa.table(
        {
            "row": pa.array(range(len(rows)), pa.int64()),
            "input_ids": pa.array([r.input_ids for r in rows], pa.list_(pa.int32())),
            "labels": pa.array([r.labels for r in rows], pa.list_(pa.int32())),
            "position_ids": pa.array([r.position_ids for r in rows], pa.list_(pa.int32())),
            "example_ids": pa.array([r.example_ids for r in rows], pa.list_(pa.string())),
        }
    )


class RowTable(Sequence[PackedRow]):
    """Rows kept as an Arrow table (int32 lists), turned into ``PackedRow`` only when a batch needs them.

    A worker holds every row of a stage; as Python lists that would cost ~10x the memory of Arrow's buffers.
    """

    def __init__(self, table: Any) -> None:
        self._table = table.sort_by("row").combine_chunks()

    def __len__(self) -> int:
        return self._table.num_rows

    def __getitem__(self, i: int) -> PackedRow:  # type: ignore[override]
        if not 0 <= i < len(self):
            raise IndexError(i)
        r = self._table.slice(i, 1).to_pylist()[0]
        return PackedRow(r["input_ids"], r["labels"], r["position_ids"], r["example_ids"])


def row_table_from_batches(batches: Iterable[Any]) -> RowTable:
    """A ``RowTable`` from Arrow record batches/tables of ``rows_to_table`` output, in any order."""
    import pyarrow as pa

    return RowTable(
        pa.concat_tables([b if isinstance(b, pa.Table) else pa.Table.from_batches([b]) for b in batches])
    )


def prepare_stage_rows(
    tokenizer: Any, build_dir: str | Path, stage_data: str, max_seq_len: int, packing: bool
) -> tuple[list[PackedRow], TokenizeStats]:
    """Read, tokenize and (optionally) pack one stage's train shards."""
    records = read_records(shard_paths(build_dir, stage_data, ("train",)))
    examples, stats = tokenize_records(tokenizer, records, max_seq_len)
    if not examples:
        raise DataError(f"stage {stage_data!r} of {build_dir} has no trainable record (no assistant tokens)")
    rows = pack_examples(examples, max_seq_len) if packing else unpacked_rows(examples)
    return rows, stats
