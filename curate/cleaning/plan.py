"""The driver's cleaning plan: from the document tables phase 1 wrote, which training documents leave
the build and why, and the reports that say so.

Exact copies of another dataset's evaluation documents never get here: phase 1 leaves their examples
out (``overlap.EvalDocuments``), and the plan only lists them. It removes documents for two reasons,
with near-duplicate detection on: ``overlap`` (near another dataset's evaluation document) and
``near_duplicates`` (another training document of its cluster was kept: the one with the lowest seeded
hash of its name, a stable choice). Candidate pairs come from ``pairs_of`` (the build runs it in its
workers, one band partition each)."""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from curate.atomic_files import write_large_json
from curate.catalog import NearDuplicates
from curate.cleaning.documents import count_documents, read_column
from curate.cleaning.minhash import (
    EMPTY,
    SIGNATURE_DTYPE,
    MinHasher,
    agreements,
    bucket_pairs,
    cluster_labels,
    distinct,
    verified,
)
from curate.cleaning.overlap import NO_TEXT, DocumentRef, leaked_training, overlap_report
from curate.tasks.base import stable_hash

OVERLAP = "overlap"
NEAR_DUPLICATES = "near_duplicates"
PairsOf = Callable[[Sequence[Path]], "NearPairs"]


def hasher_of(settings: NearDuplicates) -> MinHasher:
    return MinHasher(settings.num_perm, settings.bands, settings.ngram_words, settings.ngram_chars)


def partition_pairs(signatures: np.ndarray, settings: NearDuplicates, partition: int,
                    partitions: int) -> tuple[np.ndarray, np.ndarray]:
    """Verified near-duplicate pairs among the buckets of one partition of the bands (what a worker
    computes): the bands whose index modulo ``partitions`` is ``partition``. A worker hashes and buckets
    only its own bands, so P workers share the band-key work instead of each doing all of it; a bucket
    lies in one band, so the merged pairs are the same for any partitioning."""
    hasher = hasher_of(settings)
    bands = np.arange(partition, hasher.bands, partitions)
    # documents without shingles (all values EMPTY) are left out: their signatures would all collide. Only
    # a signature whose first value is EMPTY can be one, so only those are compared in full
    maybe = np.flatnonzero(signatures[:, 0] == EMPTY)
    empty = maybe[(signatures[maybe] == EMPTY).all(axis=1)]
    if not len(empty):
        return verified(bucket_pairs(hasher.band_keys(signatures, bands)), signatures, settings.threshold)
    valid = np.setdiff1d(np.arange(len(signatures)), empty)
    pairs = bucket_pairs(hasher.band_keys(signatures[valid], bands))  # (a copy of the valid rows only)
    return verified(valid[pairs], signatures, settings.threshold)


def _table_array(path: Path, name: str) -> np.ndarray:
    """One column of a document table (``DocumentTable.save``), read alone from its memory map."""
    return read_column(path, name)


def _band_keys_of_tables(tables: Sequence[Path], hasher: MinHasher,
                         bands: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Band keys (of ``bands`` only) of every document with shingles, read table by table (a worker never
    holds every signature), with their document numbers (in table order) and each table's size."""
    keys, numbers, sizes, start = [], [], [], 0
    for path in tables:
        signatures = _table_array(path, "signatures")
        # documents without shingles (all values EMPTY) are left out: their signatures would all collide.
        # Only a signature whose first value is EMPTY can be one, so only those are compared in full
        maybe = np.flatnonzero(signatures[:, 0] == EMPTY)
        empty = maybe[(signatures[maybe] == EMPTY).all(axis=1)]
        rows = np.setdiff1d(np.arange(len(signatures)), empty) if len(empty) else np.arange(len(signatures))
        keys.append(hasher.band_keys(signatures[rows] if len(empty) else signatures, bands))
        numbers.append(start + rows)
        sizes.append(len(signatures))
        start += len(signatures)
    width = len(bands)
    return (np.concatenate(keys) if keys else np.empty((0, width), np.uint64),
            np.concatenate(numbers) if numbers else np.empty(0, np.int64), sizes)


def _rows_of_tables(tables: Sequence[Path], sizes: list[int], documents: np.ndarray, width: int) -> np.ndarray:
    """The signatures of ``documents`` (ascending document numbers), read back table by table."""
    out = np.empty((len(documents), width), dtype=SIGNATURE_DTYPE)
    bounds = np.searchsorted(documents, np.cumsum([0, *sizes]))
    start = 0
    for at, path in enumerate(tables):
        lo, hi = bounds[at], bounds[at + 1]
        if hi > lo:
            out[lo:hi] = _table_array(path, "signatures")[documents[lo:hi] - start]
        start += sizes[at]
    return out


def table_pairs(tables: Sequence[Path], settings: NearDuplicates, partition: int,
                partitions: int) -> NearPairs:
    """``partition_pairs`` read from the document tables themselves (what a build's worker runs): the band
    keys of its own bands, table by table, then the signatures of the candidates' documents only, to check
    them. Returns the verified pairs and the signatures of their documents (for the cluster decisions)."""
    hasher = hasher_of(settings)
    keys, numbers, sizes = _band_keys_of_tables(tables, hasher, np.arange(partition, hasher.bands, partitions))
    candidates = numbers[bucket_pairs(keys)]  # (numbers ascend: pairs stay (i < j) and in the same order)
    del keys
    documents = distinct(candidates.reshape(-1))
    rows = _rows_of_tables(tables, sizes, documents, hasher.num_perm)
    pairs, shares = verified(np.searchsorted(documents, candidates), rows, settings.threshold)
    kept = distinct(pairs.reshape(-1))
    return NearPairs(documents[pairs], shares, documents[kept], rows[kept])


@dataclass
class NearPairs:
    """Verified near-duplicate pairs (document numbers, i < j) with their estimated similarity, and the
    signatures of the documents in them (``documents`` ascending, one row each)."""

    pairs: np.ndarray
    shares: np.ndarray
    documents: np.ndarray
    signatures: np.ndarray

    @classmethod
    def merged(cls, parts: Sequence[NearPairs]) -> NearPairs:
        """The partitions' pairs in one order whatever the partitioning (``merge_pairs``), and each
        document's signature once."""
        pairs, shares = merge_pairs([(p.pairs, p.shares) for p in parts])
        documents = np.concatenate([p.documents for p in parts]) if parts else np.empty(0, np.int64)
        rows = (np.concatenate([p.signatures for p in parts]) if parts
                else np.empty((0, 0), SIGNATURE_DTYPE))
        order = np.argsort(documents, kind="stable")
        ordered = documents[order]
        first = order[np.concatenate([[True], ordered[1:] != ordered[:-1]])] if len(ordered) else order
        return cls(pairs, shares, documents[first], rows[first])

    def rows(self, documents: np.ndarray | list[int] | int) -> np.ndarray:
        """The signatures of these documents (each one in a pair)."""
        return self.signatures[np.searchsorted(self.documents, documents)]


def local_pairs(settings: NearDuplicates) -> PairsOf:
    """All partitions in this process (tests, and builds without workers)."""
    return lambda tables: table_pairs(tables, settings, 0, 1)


def merge_pairs(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of every partition, in one order whatever the partitioning (a bucket is in one partition,
    but two buckets in two partitions may give one pair twice)."""
    pairs = np.concatenate([p for p, _ in parts]) if parts else np.empty((0, 2), np.int64)
    shares = np.concatenate([s for _, s in parts]) if parts else np.empty(0)
    if not len(pairs):
        return pairs.reshape(0, 2).astype(np.int64), shares
    # one integer per pair, ordered by a stable sort: the first of equal codes is the pair's first
    # occurrence (what np.unique(axis=0, return_index=True) gives, far cheaper)
    pairs = pairs.astype(np.int64, copy=False)
    codes = pairs[:, 0] * (int(pairs.max()) + 1) + pairs[:, 1]
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    first = order[np.concatenate([[True], ordered[1:] != ordered[:-1]])]
    return pairs[first], shares[first]


class DocumentRefs(Sequence[DocumentRef]):
    """The documents of all files, numbered in file order; a DocumentRef is made only when asked for (a
    build has millions of documents, and only those in groups and clusters are ever looked at). Ids and
    keys stay in the document tables: the driver reads back the ids of the documents it names (``read_ids``,
    one read per table), so its memory does not grow with the number of documents."""

    def __init__(self) -> None:
        self.files: list[tuple[str, str, str, bool, Path]] = []  # example file, dataset, split, eval, table
        self.starts: list[int] = []
        self.total = 0
        self._ids: dict[int, str] = {}  # ids read back for the documents asked for (``read_ids``)

    def add(self, example_file: str, dataset: str, split: str, evaluation: bool, table: Path, count: int) -> None:
        self.files.append((example_file, dataset, split, evaluation, table))
        self.starts.append(self.total)
        self.total += count

    def __len__(self) -> int:
        return self.total

    def _locate(self, index: int) -> tuple[int, int]:
        at = bisect_right(self.starts, index) - 1
        return at, index - self.starts[at]

    def read_ids(self, indexes: Iterable[int]) -> None:
        """Read the ids of these documents, each table once, for the groups and clusters to name them."""
        wanted = np.fromiter(set(indexes) - self._ids.keys(), dtype=np.int64)
        if not len(wanted):
            return
        wanted.sort()
        at = np.searchsorted(np.array(self.starts), wanted, side="right") - 1
        bounds = np.flatnonzero(np.diff(at)) + 1
        for rows in np.split(np.arange(len(wanted)), bounds):  # one table at a time
            file_at = int(at[rows[0]])
            ids = _table_array(self.files[file_at][4], "ids")[wanted[rows] - self.starts[file_at]].tolist()
            self._ids.update(zip(wanted[rows].tolist(), ids, strict=True))

    def located(self, indexes: list[int]) -> tuple[list[int], list[str]]:
        """Each index's file (its position in ``files``) and document id: one array step and no DocumentRef
        made (a plan names every clustered and removed document, up to 100,000 at 1M examples)."""
        if not indexes:
            return [], []
        self.read_ids(indexes)
        at = np.searchsorted(np.array(self.starts), np.array(indexes), side="right") - 1
        return at.tolist(), [self._ids[i] for i in indexes]

    def __getitem__(self, index: int) -> DocumentRef:  # type: ignore[override]
        if index not in self._ids:
            self.read_ids([index])
        _, dataset, split, evaluation, _ = self.files[self._locate(index)[0]]
        return DocumentRef(dataset, split, self._ids[index], evaluation)


KEYS_PER_PASS = 1 << 18  # documents' keys the driver holds at once to find shared groups (~6 MB)


def _document_keys(path: Path) -> np.ndarray:
    """The overlap keys alone of a document table: a pass reads only them, not the ids and signatures
    beside them."""
    return _table_array(path, "keys")


def shared_groups_in_passes(refs: DocumentRefs, keys_per_pass: int = KEYS_PER_PASS) -> list[list[int]]:
    """``overlap.shared_groups`` over every document's key, without holding them all: equal keys fall in
    one residue class modulo the number of passes, so each pass reads the tables again and groups only
    the keys of its class. Same groups, in the same order, for any number of passes."""
    passes = max(1, -(-len(refs) // keys_per_pass))
    code = {name: number for number, name in enumerate(sorted({f[1] for f in refs.files}))}
    groups: list[list[int]] = []
    for residue in range(passes):
        keys, index, datasets = [], [], []
        for at, start in enumerate(refs.starts):
            file_keys = _document_keys(refs.files[at][4])
            inside = np.flatnonzero(file_keys % np.uint64(passes) == np.uint64(residue))
            keys.append(file_keys[inside])
            index.append(start + inside)
            datasets.append(np.full(len(inside), code[refs.files[at][1]], np.int64))
        if not refs.files:
            break
        key = np.concatenate(keys)
        order = np.argsort(key, kind="stable")
        ordered, where, dataset = key[order], np.concatenate(index)[order], np.concatenate(datasets)[order]
        if not len(ordered):
            continue
        starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
        ends = np.append(starts[1:], len(ordered))
        mixed = np.minimum.reduceat(dataset, starts) != np.maximum.reduceat(dataset, starts)  # > 1 dataset
        chosen = (ends - starts > 1) & mixed & (ordered[starts] != np.uint64(NO_TEXT))
        for start, end in zip(starts[chosen].tolist(), ends[chosen].tolist(), strict=True):
            groups.append(sorted(where[start:end].tolist()))
    groups.sort(key=lambda g: g[0])
    return groups


@dataclass
class CleaningPlan:
    """Which documents of each phase-1 example file are removed (document id -> reason), and the data
    behind the reports."""

    dropped: dict[str, dict[str, str]] = field(default_factory=dict)
    refs: Sequence[DocumentRef] = field(default_factory=list)
    groups: list[list[int]] = field(default_factory=list)
    leaked: dict[int, list[str]] = field(default_factory=dict)
    cluster_rows: list[dict[str, Any]] = field(default_factory=list)
    near_duplicates: bool = False

    def write_reports(self, out: Path, removed: Counter[tuple[str, str, str]], write_json: Callable[..., None],
                      overlap: bool) -> None:
        """``overlap.json`` (overlap on) and ``near_duplicates.json`` (near-duplicates on); ``removed``:
        examples removed per (dataset, split, reason)."""
        if overlap:
            by_name = {f"{d}/{s}": n for (d, s, r), n in removed.items() if r == OVERLAP}
            write_json(out / "overlap.json", overlap_report(self.groups, self.refs, self.leaked, by_name))
        if self.near_duplicates:
            by_dataset = Counter()
            for (d, s, r), n in removed.items():
                if r == NEAR_DUPLICATES:
                    by_dataset[f"{d}/{s}"] += n
            # (similarities are rounded to 4 places: printed alike by orjson and json, see write_large_json)
            write_large_json(out / "near_duplicates.json", {
                "clusters": self.cluster_rows, "examples_removed": dict(sorted(by_dataset.items())),
                "documents_removed": sum(1 for c in self.cluster_rows for m in c["members"]
                                         if m["action"] == "removed")})


def plan_cleaning(files: list[tuple[str, str, str, bool, Path]], seed: int, settings: NearDuplicates,
                  overlap: bool, pairs_of: PairsOf | None = None,
                  no_overlap: frozenset[str] = frozenset()) -> CleaningPlan:
    """``files``: (example file, dataset, split, is evaluation split, document table) in a fixed order;
    ``no_overlap``: datasets whose ``cleaning`` turns overlap off (their training documents are never
    removed for an evaluation document, only reported as shared)."""
    refs = DocumentRefs()
    for example_file, dataset, split, evaluation, table in files:  # (sizes only, from the tables' headers)
        refs.add(example_file, dataset, split, evaluation, table, count_documents(table))
    plan = CleaningPlan(refs=refs, near_duplicates=settings.enabled)
    reasons: dict[int, str] = {}
    if overlap:
        plan.groups = shared_groups_in_passes(refs)
        refs.read_ids(i for group in plan.groups for i in group)
        plan.leaked = {i: found for i, found in leaked_training(plan.groups, refs).items()
                       if refs[i].dataset not in no_overlap}  # phase 1 left their examples out already
    if settings.enabled and len(refs):
        # the workers read the signatures from the tables: the driver gets those of paired documents only
        near = (pairs_of or local_pairs(settings))([f[4] for f in files])
        _near_duplicate_clusters(plan, near, seed, reasons, settings.threshold, no_overlap)
    removed = sorted(reasons)
    for index, file_at, document_id in zip(removed, *refs.located(removed), strict=True):
        plan.dropped.setdefault(refs.files[file_at][0], {})[document_id] = reasons[index]
    return plan


def _near_duplicate_clusters(plan: CleaningPlan, near: NearPairs, seed: int,
                             reasons: dict[int, str], threshold: float,
                             no_overlap: frozenset[str] = frozenset()) -> None:
    """Clusters (connected components) of the verified pairs: training documents near an evaluation
    document of another dataset leave as ``overlap``; of the other training documents, taken in seeded
    order, each one still there is kept and removes those at least ``threshold`` similar to it (a chain
    A~B~C with A and C apart keeps A and C). The report's ``similarity`` of a member is to the kept
    document it is near (``near``), else to the cluster's first kept one."""
    refs = plan.refs
    nodes, labels = cluster_labels(near.pairs)
    if not len(nodes):
        return
    # documents are handled by their position among the nodes: their signatures are rows of one matrix, and
    # what the decisions need of each (evaluation or not, split name, report label, seeded rank) is in lists
    # and arrays made once here, not per cluster
    sigs = near.signatures[np.searchsorted(near.documents, nodes)]
    width = sigs.shape[1]
    order = np.argsort(labels, kind="stable")  # by label, each cluster's members ascending
    members = np.split(order, np.flatnonzero(np.diff(labels[order])) + 1)
    documents = nodes.tolist()
    assert isinstance(refs, DocumentRefs)  # (plan_cleaning's)
    files = refs.files
    file_at, ids = refs.located(documents)
    is_eval = np.array([files[a][3] for a in file_at], dtype=bool)
    dataset = [files[a][1] for a in file_at]
    name = [f"{files[a][1]}/{files[a][2]}" for a in file_at]
    label = [f"{n}/{d}" for n, d in zip(name, ids, strict=True)]
    # the seeded order of training documents: by the hash of (seed, dataset, split, id), then by number
    hashes = np.array([stable_hash(seed, files[a][1], files[a][2], d) for a, d in zip(file_at, ids, strict=True)])
    rank = np.empty(len(nodes), dtype=np.int64)
    rank[np.lexsort((nodes, hashes))] = np.arange(len(nodes))
    near_of = np.full(len(nodes), -1, dtype=np.int64)  # a removed near-duplicate -> the kept one it is near
    leaked = plan.leaked
    for number, positions in enumerate(members):
        evaluation_members = is_eval[positions]
        training = positions[~evaluation_members]
        if evaluation_members.any():
            evaluation = sorted({name[p] for p in positions[evaluation_members].tolist()})
            for p in training.tolist():
                i = documents[p]
                eval_elsewhere = [n for n in evaluation if n.split("/")[0] != dataset[p]]
                if eval_elsewhere and i not in leaked and dataset[p] not in no_overlap:
                    reasons[i] = OVERLAP
                    leaked[i] = eval_elsewhere
        if leaked:
            training = training[np.fromiter((documents[p] not in leaked for p in training.tolist()), dtype=bool,
                                            count=len(training))]
        # greedy, in seeded order: a kept document removes the candidates near it (at least the threshold),
        # and a candidate only chained to it through others stays to be judged on its own
        rest = training[np.argsort(rank[training], kind="stable")]
        block = sigs[rest]  # their signatures, in that order
        kept = int(rest[0]) if len(rest) else int(positions[0])
        while len(rest):
            keeper = int(rest[0])
            mine, rest, block = block[0], rest[1:], block[1:]  # (views: no copy unless some leave)
            # the keeper against all the rest at once
            close = agreements(block, mine) / width >= threshold
            if close.any():
                gone = rest[close]
                near_of[gone] = keeper
                for p in gone.tolist():
                    reasons[documents[p]] = NEAR_DUPLICATES
                rest, block = rest[~close], block[~close]
        anchors = np.where(near_of[positions] >= 0, near_of[positions], kept)
        similarity = (agreements(sigs[positions], sigs[anchors]) / width).tolist()
        rows = []
        for p, anchor, share, evaluated, is_near in zip(positions.tolist(), anchors.tolist(), similarity,
                                                        evaluation_members.tolist(),
                                                        (near_of[positions] >= 0).tolist(), strict=True):
            i = documents[p]
            removed = i in leaked or i in reasons
            action = "evaluation" if evaluated else "removed" if removed else "kept"
            rows.append({"document": label[p], "action": action,
                         "reason": (OVERLAP if i in leaked else reasons[i]) if action == "removed" else "",
                         "near": label[anchor] if is_near else "", "similarity": round(share, 4)})
        plan.cluster_rows.append({"cluster": number, "size": len(positions), "members": rows})


def removed_mask(table: Any, dropped: dict[str, str]) -> dict[str, Any]:
    """Per reason, the Arrow boolean mask of the rows of ``table`` (with a ``document_id`` column) whose
    document the plan removes for that reason; reasons with no row are left out."""
    import pyarrow as pa
    import pyarrow.compute as pc

    by_reason: dict[str, list[str]] = defaultdict(list)
    for document_id, reason in sorted(dropped.items()):
        by_reason[reason].append(document_id)
    masks = {}
    for reason, ids in sorted(by_reason.items()):
        mask = pc.is_in(table.column("document_id"), value_set=pa.array(ids, pa.string()))
        if pc.any(mask).as_py():
            masks[reason] = mask
    return masks
