"""Test-set decontamination by long n-gram overlap of the input text.

Every evaluation split's inputs are cut into n-grams of words (English) or characters (Chinese) and
hashed to 64-bit integers; a training example sharing any n-gram with an evaluation input is removed
before selection and listed in a contamination report. Hashes live in sorted numpy arrays, which Ray
shares between actors without copies.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

import numpy as np

# every CJK character alone; any other run of letters and digits. (The run excludes CJK: "[^\W_]+" alone took
# "12天后好转" as one token, since CJK characters are letters too)
_CJK = "\u3400-\u9fff\uf900-\ufaff"
TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+", re.UNICODE)
TOKENS_RULE = "cjk-alone-2"  # names the rule above in phase 1's cache keys: n-grams made by another rule are stale


def tokens(text: str) -> list[str]:
    """Lower-cased words, with every CJK character a token of its own."""
    return [t.casefold() for t in TOKEN.findall(text)]


def ngram_hashes(text: str, n: int) -> np.ndarray:
    """Sorted unique 64-bit hashes of the text's token n-grams (the whole text if shorter than n)."""
    toks = tokens(text)
    if not toks:
        return np.empty(0, dtype=np.uint64)
    grams = [" ".join(toks[i:i + n]) for i in range(max(1, len(toks) - n + 1))] if len(toks) >= n else []
    if not grams:
        return np.empty(0, dtype=np.uint64)
    values = [int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "little") for g in grams]
    return np.unique(np.array(values, dtype=np.uint64))


class EvalIndex:
    """The n-grams of all evaluation inputs, with the evaluation dataset each came from."""

    def __init__(self, hashes: np.ndarray, owners: np.ndarray, names: list[str], n: int) -> None:
        order = np.argsort(hashes, kind="stable")
        self.hashes = hashes[order]
        self.owners = owners[order]
        self.names = names
        self.n = n

    @classmethod
    def build(cls, parts: Iterable[tuple[str, np.ndarray]], n: int) -> EvalIndex:
        names: list[str] = []
        all_hashes: list[np.ndarray] = []
        all_owners: list[np.ndarray] = []
        for name, hashes in parts:
            if name not in names:
                names.append(name)
            all_hashes.append(hashes.astype(np.uint64))
            all_owners.append(np.full(len(hashes), names.index(name), dtype=np.int32))
        if not all_hashes:
            return cls(np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int32), [], n)
        return cls(np.concatenate(all_hashes), np.concatenate(all_owners), names, n)

    def fingerprint(self) -> str:
        digest = hashlib.blake2b(self.hashes.tobytes(), digest_size=16)
        digest.update(self.owners.tobytes())
        digest.update("\x1f".join(self.names).encode())
        return digest.hexdigest()

    def __len__(self) -> int:
        return len(self.hashes)

    def matches(self, text: str) -> list[str]:
        """Names of the evaluation datasets the text shares an n-gram with (empty when clean)."""
        if not len(self.hashes):
            return []
        probe = ngram_hashes(text, self.n)
        if not len(probe):
            return []
        at = np.searchsorted(self.hashes, probe)
        at[at >= len(self.hashes)] = 0
        hit = self.hashes[at] == probe
        if not hit.any():
            return []
        owners = set()
        for index in at[hit]:
            # equal hashes sit side by side: collect every owner of each hit
            h = self.hashes[index]
            lo = int(np.searchsorted(self.hashes, h, side="left"))
            hi = int(np.searchsorted(self.hashes, h, side="right"))
            owners.update(int(o) for o in self.owners[lo:hi])
        return sorted(self.names[o] for o in owners)
