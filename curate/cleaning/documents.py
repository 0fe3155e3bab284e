"""Phase 1's record of the documents of one file: id, overlap key and (near-duplicate detection on)
MinHash signature, written beside the file's examples for the driver's cleaning plan."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from curate import storage
from curate.cleaning.minhash import MinHasher
from curate.cleaning.overlap import document_key

PENDING_TEXTS = 2_048  # texts a table holds before hashing them as one block (bounds a worker's memory)


class DocumentTable:
    """The documents of one phase-1 file, in the order their first example came."""

    def __init__(self, hasher: MinHasher | None = None, skip_tasks: frozenset[str] = frozenset(),
                 hashed: bool = True) -> None:
        self.hasher = hasher
        self.skip_tasks = skip_tasks  # their documents get an EMPTY signature: in no near-duplicate pair
        self.hashed = hashed  # False (the dataset turns near-duplicates off): every signature EMPTY, none computed
        self.ids: list[str] = []
        self.keys: list[int] = []
        self.signatures: list[np.ndarray] = []  # blocks of signatures, in document order
        self._pending: tuple[list[str], list[str]] = ([], [])  # texts and languages not yet hashed
        self._seen: set[str] = set()

    def add(self, document_id: str, text: str, language: str, task: str = "") -> int | None:
        """Record a document the first time one of its examples (of ``task``) comes; return its overlap
        key then (None when it was recorded already)."""
        if document_id in self._seen:
            return None
        self._seen.add(document_id)
        key = document_key(text)
        self.ids.append(document_id)
        self.keys.append(key)
        if self.hasher is not None:  # hashed in blocks (MinHasher.signatures): far cheaper than one by one
            texts, languages = self._pending
            texts.append("" if task in self.skip_tasks or not self.hashed else text)
            languages.append(language)
            if len(texts) >= PENDING_TEXTS:
                self._hash_pending()
        return key

    def _hash_pending(self) -> None:
        texts, languages = self._pending
        if texts and self.hasher is not None:
            self.signatures.append(self.hasher.signatures(texts, languages))
        self._pending = ([], [])

    def save(self, path: Path) -> None:
        """Write atomically (``.npz``, no pickled objects)."""
        self._hash_pending()
        width = self.hasher.num_perm if self.hasher is not None else 0
        signatures = np.concatenate(self.signatures) if self.signatures else np.empty((0, width), dtype=np.uint32)
        storage.save_npz(path, ids=np.array(self.ids, dtype=str), keys=np.array(self.keys, dtype=np.uint64),
                         signatures=signatures)


def load_documents(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(document ids, overlap keys, signatures) of a file written by ``DocumentTable.save``."""
    with storage.load_npy(path, allow_pickle=False) as data:
        return data["ids"], data["keys"], data["signatures"]
