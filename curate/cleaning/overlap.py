"""Document-level overlap: the same normalized source text in two datasets.

A document's key is a 64-bit hash of its text with white space collapsed and case folded, so a
re-annotation of the same abstract with other spacing (title and abstract joined by a tab or a space)
finds its original; texts that differ in more are near-duplicates (``minhash``). Grouping keys is a
sort, not a comparison of all pairs.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

NO_TEXT = 0  # the key of a document without words: never matched


def document_key(text: str) -> int:
    """The overlap key of a source text (NO_TEXT when it is blank): its bytes with white space collapsed
    and case folded, as the exact-duplicate key of records normalizes them (about 3 µs for an abstract,
    a tenth of splitting it into words)."""
    from curate.build.record import folded  # (record imports this package: on first use)

    blob = folded(text)
    if not blob:
        return NO_TEXT
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "little") or 1


@dataclass(frozen=True)
class DocumentRef:
    """One document of one split of one dataset; ``evaluation``: the split is an evaluation split."""

    dataset: str
    split: str
    document_id: str
    evaluation: bool

    @property
    def name(self) -> str:
        return f"{self.dataset}/{self.split}"


def shared_groups(keys: np.ndarray, refs: Sequence[DocumentRef]) -> list[list[int]]:
    """Indexes of documents with equal keys, for every key found in more than one dataset; each group
    in index order, groups ordered by their first index."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]])) if len(keys) else np.empty(0, int)
    ends = np.append(starts[1:], len(keys))
    groups = []
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        if end - start < 2 or ordered[start] == NO_TEXT:
            continue
        members = sorted(order[start:end].tolist())
        if len({refs[i].dataset for i in members}) > 1:
            groups.append(members)
    groups.sort(key=lambda g: g[0])
    return groups


def leaked_training(groups: list[list[int]], refs: Sequence[DocumentRef]) -> dict[int, list[str]]:
    """Training documents whose text is an evaluation document of another dataset: index -> the
    evaluation splits (``dataset/split``) it appears in."""
    leaked: dict[int, list[str]] = {}
    for members in groups:
        for i in members:
            if refs[i].evaluation:
                continue
            found = sorted({refs[j].name for j in members if refs[j].evaluation and refs[j].dataset != refs[i].dataset})
            if found:
                leaked[i] = found
    return leaked


def overlap_report(groups: list[list[int]], refs: Sequence[DocumentRef], leaked: dict[int, list[str]],
                   removed_examples: dict[str, int]) -> dict[str, Any]:
    """``overlap.json``: per pair of dataset splits, how many documents they share (and which), and the
    training documents removed as evaluation leaks with the examples that removed."""
    shared: dict[tuple[str, str], list[list[str]]] = defaultdict(list)
    for members in groups:
        names = sorted({refs[i].name for i in members})
        for a_index, a in enumerate(names):
            for b in names[a_index + 1:]:
                if a.split("/")[0] == b.split("/")[0]:
                    continue  # two splits of one dataset: exact decontamination's business
                ids_a = sorted({refs[i].document_id for i in members if refs[i].name == a})
                ids_b = sorted({refs[i].document_id for i in members if refs[i].name == b})
                shared[(a, b)].append([ids_a[0], ids_b[0]])
    pairs = [{"a": a, "b": b, "documents": len(docs), "document_pairs": sorted(docs)}
             for (a, b), docs in sorted(shared.items())]
    by_training: dict[str, dict[str, Any]] = {}
    for i, found in sorted(leaked.items(), key=lambda kv: (refs[kv[0]].name, refs[kv[0]].document_id)):
        entry = by_training.setdefault(refs[i].name, {"documents": [], "evaluation_sets": defaultdict(int)})
        entry["documents"].append(refs[i].document_id)
        for name in found:
            entry["evaluation_sets"][name] += 1
    for name, entry in by_training.items():
        entry["evaluation_sets"] = dict(sorted(entry["evaluation_sets"].items()))
        entry["examples_removed"] = removed_examples.get(name, 0)
    return {"shared": pairs, "contamination": dict(sorted(by_training.items())),
            "documents_in_shared_groups": sum(len(g) for g in groups)}


class EvalDocuments:
    """The overlap keys of every evaluation document, with the evaluation splits (``dataset/split``)
    each is in: what phase 1 checks a training document against before it makes examples of it."""

    def __init__(self, keys: np.ndarray, owners: np.ndarray, names: list[str]) -> None:
        order = np.lexsort((owners, keys))
        self.keys, self.owners, self.names = keys[order], owners[order], names

    @classmethod
    def build(cls, parts: list[tuple[str, np.ndarray]]) -> EvalDocuments:
        """``parts``: (``dataset/split``, keys of its documents) in a fixed order."""
        names = sorted({name for name, _ in parts})
        keys = [k[k != NO_TEXT] for _, k in parts]
        owners = [np.full(len(k), names.index(name), dtype=np.int32) for (name, _), k in zip(parts, keys, strict=True)]
        if not keys:
            return cls(np.empty(0, np.uint64), np.empty(0, np.int32), names)
        return cls(np.concatenate(keys).astype(np.uint64), np.concatenate(owners), names)

    def __len__(self) -> int:
        return len(self.keys)

    def fingerprint(self) -> str:
        digest = hashlib.blake2b(self.keys.tobytes(), digest_size=16)
        digest.update(self.owners.tobytes())
        digest.update("\x1f".join(self.names).encode())
        return digest.hexdigest()

    def leaks(self, key: int, dataset: str) -> list[str]:
        """The evaluation splits of other datasets that hold a document with this key (empty: none)."""
        if key == NO_TEXT or not len(self.keys):
            return []
        lo = int(np.searchsorted(self.keys, np.uint64(key), side="left"))
        hi = int(np.searchsorted(self.keys, np.uint64(key), side="right"))
        found = {self.names[o] for o in self.owners[lo:hi].tolist()}
        return sorted(n for n in found if n.split("/", 1)[0] != dataset)
