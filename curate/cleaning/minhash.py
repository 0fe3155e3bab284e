"""MinHash signatures, LSH band keys, candidate pairs per band bucket, and clusters, in numpy.

A text's shingles are its n-grams of tokens: the text is case-folded, every CJK character is a token and
so is every other run of letters and digits (the rule of ``decontam.tokens``), so Chinese gets character
n-grams and English word n-grams. Tokens are found and hashed for a block of texts at once, over the
code points of their concatenation (``token_hashes``): no Python call per text or per token. An n-gram's
hash is a polynomial of its tokens' hashes, and the signature is the minimum, over shingles, of
``num_perm`` multiply-shift hashes (64-bit multiply; bits 32-47 kept): one matrix product-sized numpy step per
block of documents instead of ``num_perm`` Python calls per shingle. Everything is seeded by constants,
so signatures do not depend on the process, the worker or the build seed.

Candidates come from LSH: the signature is cut into ``bands`` bands; documents sharing a band key
share a bucket. A bucket pairs its first document (lowest index) with each other member (no pairs of
all members), each pair is kept when the signatures agree on at least ``threshold`` of their values
(the estimated Jaccard similarity), and kept pairs join documents into clusters.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

# which tokens and token hashes signatures are made of: part of a build's cache keys, so that a build
# resumed after a change of either computes its signatures again
SCHEME = "codepoint-tokens-b16-2"
_SEED = 0x6375726174655F6D  # fixed: signatures are a property of the text, not of a build
# a signature keeps 16 low bits of each minimum (b-bit minwise hashing, Li and Koenig 2010): two different minima
# agree by chance once in 65,536, which moves an estimated similarity by at most ~0.002 (its standard error at
# 0.8 is 0.035), and halves what the tables, the plan and its verification read against 32 bits. Low bits, not
# the top ones: a minimum's top bits are small by construction (the least of s uniform values is near 2**64/s),
# so top bits of two different minima agree far more often than once in 65,536; bits 32-47 stay uniform
SIGNATURE_DTYPE = np.uint16
_VALUE_SHIFT = np.uint64(32)
EMPTY = SIGNATURE_DTYPE(0xFFFF)  # every value of the signature of a text without shingles
_BLOCK = 256  # shingles per multiply-add block of ``signatures`` (256 x 128 x 8 bytes = 256 KiB: in cache)
_CHAR_BASE = np.uint64(0x9E3779B97F4A7C15)  # odd: the polynomial base of a token's code points
_CHAR_BASE_INVERSE = np.uint64(pow(int(_CHAR_BASE), -1, 1 << 64))
_OTHER, _WORD, _CJK = 0, 1, 2  # classes of code points


@lru_cache(maxsize=1)
def _bmp_classes() -> np.ndarray:
    """The class of every code point of the Basic Multilingual Plane: a letter or digit (``str.isalnum``, the
    ``[^\\W_]`` of the regular expression ``decontam.tokens`` uses), a code point of the CJK ranges that rule
    takes one at a time, or other. Made once per process (~10 ms); ``_classes_of`` looks the rarer code
    points above the plane up one by one."""
    table = np.fromiter((chr(c).isalnum() for c in range(0x10000)), dtype=np.uint8, count=0x10000)
    table[0x3400:0xA000] = table[0xF900:0xFB00] = _CJK  # (the whole ranges, as the regular expression has them)
    return table


def _classes_of(codes: np.ndarray) -> np.ndarray:
    table = _bmp_classes()
    if not len(codes) or int(codes.max()) < 0x10000:
        return table[codes]
    astral = codes >= 0x10000
    kind = table[np.where(astral, 0, codes)]
    kind[astral] = [_WORD if chr(c).isalnum() else _OTHER for c in codes[astral].tolist()]
    return kind


@lru_cache(maxsize=8)
def _powers(size: int) -> tuple[np.ndarray, np.ndarray]:
    """base**i and base**-i modulo 2**64 for i < size (size a power of two: few sizes, cached)."""
    with np.errstate(over="ignore"):
        up = np.cumprod(np.full(size, _CHAR_BASE, dtype=np.uint64), dtype=np.uint64) * _CHAR_BASE_INVERSE
        down = np.cumprod(np.full(size, _CHAR_BASE_INVERSE, dtype=np.uint64), dtype=np.uint64) * _CHAR_BASE
    return up, down


def token_hashes(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The 64-bit hash of every token of the texts, in order, and how many tokens each text has.

    The texts are joined by NUL (a NUL inside a text counts as a space), case-folded and read as UTF-32 code
    points; a table gives each code point's class, and token boundaries are where the class changes (every
    CJK character alone). A token's hash is the polynomial of its code points (prefix sums of code point x
    base**position, modulo 2**64, scaled back by base**-start), plus its length, through SplitMix64."""
    joined = "\x00".join(texts)
    if joined.count("\x00") != len(texts) - 1:
        joined = "\x00".join(t.replace("\x00", " ") for t in texts)
    codes = np.frombuffer(joined.casefold().encode("utf-32-le"), dtype=np.uint32)
    kind = _classes_of(codes)
    word = kind != _OTHER
    boundary = np.empty(len(codes) + 1, dtype=bool)  # between code point i - 1 and i: a class change or CJK
    boundary[0] = boundary[-1] = True
    np.not_equal(kind[1:], kind[:-1], out=boundary[1:-1])
    boundary[1:-1] |= kind[1:] == _CJK
    starts = np.flatnonzero(boundary[:-1] & word)
    ends = np.flatnonzero(boundary[1:] & word) + 1
    separators = np.flatnonzero(codes == 0)
    counts = np.bincount(np.searchsorted(separators, starts), minlength=len(texts))
    size = 1 << max(10, (len(codes) + 1).bit_length())
    up, down = _powers(size)
    with np.errstate(over="ignore"):
        prefix = np.zeros(len(codes) + 1, dtype=np.uint64)
        np.cumsum(codes.astype(np.uint64) * up[: len(codes)], out=prefix[1:])
        raw = (prefix[ends] - prefix[starts]) * down[starts]
        raw += (ends - starts).astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
    return _splitmix(raw), counts

def _splitmix(values: np.ndarray) -> np.ndarray:
    """A 64-bit finalizer (SplitMix64): spreads structured integers over all bits."""
    with np.errstate(over="ignore"):
        z = values + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


class MinHasher:
    """Signatures and band keys with fixed parameters; ``ngram_words``/``ngram_chars``: the n-gram
    length for English (words) and Chinese (characters) source texts."""

    def __init__(self, num_perm: int = 128, bands: int = 32, ngram_words: int = 5, ngram_chars: int = 3) -> None:
        if num_perm % bands:
            raise ValueError(f"num_perm {num_perm} is not a multiple of bands {bands}")
        self.num_perm, self.bands, self.rows = num_perm, bands, num_perm // bands
        self.ngram_words, self.ngram_chars = ngram_words, ngram_chars
        rng = np.random.default_rng(_SEED)
        self._mul = rng.integers(1, 1 << 63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)  # odd
        self._add = rng.integers(0, 1 << 63, size=num_perm, dtype=np.uint64)
        self._poly = np.uint64(0x100000001B3)  # n-gram polynomial base (odd)
        self._band_mul = rng.integers(1, 1 << 63, size=self.rows, dtype=np.uint64) * np.uint64(2) + np.uint64(1)

    def ngram(self, language: str) -> int:
        return self.ngram_chars if language == "zh" else self.ngram_words

    def shingles(self, text: str, language: str) -> np.ndarray:
        """Unique 64-bit hashes of the text's token n-grams (the whole text when it is shorter than n)."""
        hashes, _ = token_hashes([text])
        if not len(hashes):
            return np.empty(0, dtype=np.uint64)
        n = min(self.ngram(language), len(hashes))
        grams = hashes[: len(hashes) - n + 1].copy()
        with np.errstate(over="ignore"):
            for k in range(1, n):
                grams = grams * self._poly + hashes[k: len(hashes) - n + 1 + k]
        return np.unique(grams)

    def signature(self, text: str, language: str) -> np.ndarray:
        """The ``num_perm`` MinHash values (16 bits each) of a text; all EMPTY when it has no shingles."""
        return self.signatures([text], [language])[0]

    def signatures(self, texts: list[str], languages: list[str]) -> np.ndarray:
        """(texts × ``num_perm``) MinHash values of many texts at once, equal to ``signature`` of each.

        Tokens and their hashes come from one pass over the block's code points (``token_hashes``); the
        n-grams of all texts are formed by shifted array products over the concatenated token hashes,
        and the permutations are one (shingles × num_perm) multiply-add with a minimum per text
        (``np.minimum.reduceat``), in blocks of about ``_BLOCK`` shingles. A shingle repeated in a text
        does not change its minimum, so shingles are not made unique here."""
        out = np.full((len(texts), self.num_perm), EMPTY, dtype=SIGNATURE_DTYPE)
        if not texts:
            return out
        hashes, lengths = token_hashes(texts)
        total = len(hashes)
        if not total:
            return out
        ngram = np.fromiter((self.ngram(lang) for lang in languages), dtype=np.int64, count=len(texts))
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        owner = np.repeat(np.arange(len(texts)), lengths)  # the text of each token position
        offset = np.arange(total) - starts[owner]  # position inside its text
        gram_at = np.zeros(total, dtype=np.uint64)  # the shingle starting at each position, where one does
        valid = np.zeros(total, dtype=bool)
        with np.errstate(over="ignore"):
            for n in np.unique(ngram).tolist():  # (one length per language) full n-grams: shifted slices
                grams = hashes[: total - n + 1].copy() if total >= n else np.empty(0, np.uint64)
                for k in range(1, n):
                    grams = grams * self._poly + hashes[k: total - n + 1 + k]
                size = len(grams)
                here = (ngram[owner[:size]] == n) & (offset[:size] <= lengths[owner[:size]] - n)
                gram_at[:size][here] = grams[here]
                valid[:size] |= here
            short = np.flatnonzero((lengths > 0) & (lengths < ngram))  # a text shorter than n: one shingle
            if len(short):
                at, length = starts[short], lengths[short]
                whole = hashes[at].copy()
                for k in range(1, int(length.max())):
                    grows = length > k
                    whole[grows] = whole[grows] * self._poly + hashes[at[grows] + k]
                gram_at[at], valid[at] = whole, True
        grams, owner = gram_at[valid], owner[valid]
        texts_with = np.flatnonzero(lengths > 0)
        first = np.searchsorted(owner, texts_with)  # each text's first shingle (every such text has one)
        ends = np.append(first[1:], len(grams))
        done = 0
        buffer = np.empty((min(len(grams), _BLOCK), self.num_perm), dtype=np.uint64)  # reused, cache-sized
        while done < len(texts_with):
            # a block of whole texts of at most _BLOCK shingles (or one longer text)
            stop = max(done + 1, int(np.searchsorted(ends, first[done] + _BLOCK, side="right")))
            lo, hi = first[done], ends[stop - 1]
            mixed = buffer[:hi - lo] if hi - lo <= len(buffer) else np.empty((hi - lo, self.num_perm), np.uint64)
            with np.errstate(over="ignore"):
                np.multiply(grams[lo:hi, None], self._mul[None, :], out=mixed)
                np.add(mixed, self._add[None, :], out=mixed)
            mins = np.minimum.reduceat(mixed, first[done:stop] - lo, axis=0)
            out[texts_with[done:stop]] = (mins >> _VALUE_SHIFT).astype(SIGNATURE_DTYPE)
            done = stop
        return out

    def band_keys(self, signatures: np.ndarray, bands: np.ndarray | None = None) -> np.ndarray:
        """(documents × bands) 64-bit keys, one per band of each signature (``bands``: only these band
        indexes, in this order); the band's index is mixed in, so equal keys mean equal values in the
        same band."""
        n = len(signatures)
        which = np.arange(self.bands) if bands is None else np.asarray(bands, dtype=np.int64)
        values = signatures.reshape(n, self.bands, self.rows)
        if bands is not None:
            values = values[:, which, :]
        combined = np.empty((n, len(which)), dtype=np.uint64)
        with np.errstate(over="ignore"):  # one row of every band at a time: no (n x num_perm) uint64 copy
            np.multiply(values[:, :, 0], self._band_mul[0], out=combined, dtype=np.uint64)
            for row in range(1, self.rows):
                combined += values[:, :, row].astype(np.uint64) * self._band_mul[row]
            combined += which.astype(np.uint64)[None, :] * np.uint64(0x9E3779B97F4A7C15)
        return _splitmix(combined)


def distinct(values: np.ndarray) -> np.ndarray:
    """``np.unique`` of a 1-D integer array, by a sort: numpy 2's hash-based ``np.unique`` took ~0.5 s for
    the 1M candidate codes of the 300k-example benchmark, its (SIMD) sort a few milliseconds."""
    ordered = np.sort(values)
    return ordered[np.concatenate([[True], ordered[1:] != ordered[:-1]])] if len(ordered) else ordered


def bucket_pairs(keys: np.ndarray) -> np.ndarray:
    """Candidate pairs (i, j), i < j, from the band buckets of ``keys`` (documents x bands): each bucket's
    first document with each other member, made unique and sorted. Documents without shingles must be left
    out by the caller (their EMPTY signatures would all collide).

    Band by band: a band's index is mixed into its keys, so a bucket lies in one band, and ordering one band's
    keys at a time (a few MB) took half the time of ordering all of a partition's bands at once (1M-example
    benchmark, 16 bands of 750,000 keys: 1.0-1.2 s against 2.0-2.2 s; the same pairs)."""
    n, bands = keys.shape
    # unique pairs, sorted, as one integer each (a 1-D unique is far cheaper than np.unique(axis=0))
    codes = [_band_pair_codes(np.ascontiguousarray(keys[:, band])) for band in range(bands)]
    found = distinct(np.concatenate(codes)) if codes else np.empty(0, dtype=np.int64)
    return np.stack([found // n, found % n], axis=1)


def _band_pair_codes(flat: np.ndarray) -> np.ndarray:
    """(first document, other member) of every bucket of one band's keys (entry i is document i), each pair
    as one integer ``first * n + other`` (n documents)."""
    # only keys held by two or more documents make pairs. Those entries are found without ordering every
    # key: a plain sort of the keys' top 32 bits (numpy sorts 32-bit values about twice as fast as 64-bit
    # ones, with half the memory) gives the repeated top halves, a superset of the repeated keys' (keys are
    # well mixed, so few others), and a bit table of those halves' low bits picks every entry of a repeated
    # key and few others. Only the picked entries are ordered by their whole key below, which checks them
    # exactly
    top = (flat >> np.uint64(32)).astype(np.uint32)
    ordered = np.sort(top)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if not len(repeated):
        return np.empty(0, dtype=np.int64)
    low = np.uint32((1 << min(32, max(16, (8 * len(repeated)).bit_length()))) - 1)
    table = np.zeros(int(low) + 1, dtype=bool)
    table[repeated & low] = True
    maybe = np.flatnonzero(table[top & low])
    order = np.argsort(flat[maybe])  # by key only: a bucket's first document is its least, whatever the order
    flat = flat[maybe][order]
    # a key once in ``flat`` is once here too: the entries equal to a neighbour are exactly the repeated keys'
    same = flat[1:] == flat[:-1]
    shared = np.concatenate([same, [False]]) | np.concatenate([[False], same])
    n = len(top)
    docs = maybe[order][shared]
    flat = flat[shared]
    if not len(flat):
        return np.empty(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate([[True], flat[1:] != flat[:-1]]))
    first_doc = np.repeat(np.minimum.reduceat(docs, starts), np.diff(np.append(starts, len(flat))))
    other = first_doc != docs
    return first_doc[other] * np.int64(n) + docs[other]


def agreements(rows: np.ndarray, other: np.ndarray) -> np.ndarray:
    """How many positions each row of ``rows`` shares with ``other`` (one row, or as many rows). The
    comparison's booleans are summed eight at a time as bytes of a 64-bit word (a word's bytes can hold
    the counts of up to 255 positions), which took half the time of ``np.count_nonzero(axis=1)``; the
    counts are the same."""
    equal = rows == other
    width = equal.shape[-1] if equal.ndim else 0
    if equal.ndim != 2 or width % 8 or width > 255:
        return np.count_nonzero(equal, axis=-1)
    with np.errstate(over="ignore"):
        lanes = np.ascontiguousarray(equal).view(np.uint64).sum(axis=1, dtype=np.uint64)  # 8 byte counters
        return ((lanes * np.uint64(0x0101010101010101)) >> np.uint64(56)).astype(np.int64)  # their sum


def verified(pairs: np.ndarray, signatures: np.ndarray, threshold: float,
             chunk: int = 4_096) -> tuple[np.ndarray, np.ndarray]:
    """The pairs whose signatures agree on at least ``threshold`` of their values, with that share.

    Both sides' rows are gathered into two buffers made once (``np.take(out=)``), a few thousand pairs at a
    time: gathering 65,536 pairs into fresh arrays (33 MB each, above glibc's mmap threshold, so new pages
    every time) cost three times as much on the 1M-example benchmark (1.3-1.5 s against 0.35-0.5 s for one
    band partition's 1.6M candidates; the same pairs)."""
    kept, shares = [], []
    width = signatures.shape[1] if signatures.ndim == 2 else 0
    first = np.empty((min(chunk, len(pairs)), width), dtype=signatures.dtype)
    second = np.empty_like(first)
    for start in range(0, len(pairs), chunk):
        part = pairs[start:start + chunk]
        size = len(part)
        np.take(signatures, part[:, 0], axis=0, out=first[:size])
        np.take(signatures, part[:, 1], axis=0, out=second[:size])
        # (an integer count over the width: the same values as a mean of booleans, without float work)
        share = agreements(first[:size], second[:size]) / width
        good = share >= threshold
        kept.append(part[good])
        shares.append(share[good])
    if not kept:
        return np.empty((0, 2), dtype=np.int64), np.empty(0)
    return np.concatenate(kept), np.concatenate(shares)


def estimated_similarity(a: np.ndarray, b: np.ndarray) -> float:
    return float((a == b).mean())


def cluster_labels(pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Connected components of the documents joined by ``pairs``, in arrays: the documents in a pair
    (ascending) and each one's label, the lowest index in its component (labels do not depend on the
    order of pairs). Min-label hooking with pointer jumping, all in numpy: a Python union-find costs a
    few hundred nanoseconds per pair on the driver, and a 1M-example build has millions of pairs."""
    if not len(pairs):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    ends = np.asarray(pairs, dtype=np.int64).reshape(-1)
    nodes = distinct(ends)
    a, b = np.searchsorted(nodes, ends).reshape(-1, 2).T  # each end's position among the nodes
    label = np.arange(len(nodes))  # positions in nodes: ascending, so the least position is the least index
    while True:
        # hook: the root each end points to takes the lower of the two ends' roots; then compress
        low = np.minimum(label[a], label[b])
        hooked = label.copy()
        np.minimum.at(hooked, label[a], low)
        np.minimum.at(hooked, label[b], low)
        while not np.array_equal(jumped := hooked[hooked], hooked):
            hooked = jumped
        if np.array_equal(hooked, label):  # no edge joins two roots: every edge's ends share a root
            return nodes, nodes[label]
        label = hooked


def clusters(pairs: np.ndarray) -> dict[int, int]:
    """``cluster_labels`` as a dict (document -> label); documents in no pair are left out."""
    nodes, labels = cluster_labels(pairs)
    return dict(zip(nodes.tolist(), labels.tolist(), strict=True))


def jaccard(a: set[int] | np.ndarray, b: set[int] | np.ndarray) -> float:
    """Exact Jaccard similarity of two shingle sets (for tests and reports)."""
    sa, sb = set(np.asarray(list(a)).tolist()), set(np.asarray(list(b)).tolist())
    return len(sa & sb) / len(sa | sb) if sa or sb else 1.0
