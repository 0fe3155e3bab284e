"""Cleaning beyond exact duplicates: documents shared across datasets, near-duplicates, quality filters.

Pure parts over numpy arrays and plain rows, used by the build:

- ``overlap``: a key of each document's normalized source text; documents shared across datasets, and
  training documents that are another dataset's evaluation documents (contamination).
- ``minhash``: MinHash signatures and LSH band keys (word n-grams for English, character n-grams for
  Chinese); candidate pairs per band bucket, verified on the signatures, and clusters.
- ``quality``: optional filters of an example's source text and of a rendered record.
- ``plan``: what the driver decides from the per-file document tables phase 1 writes: which training
  documents are removed, and why; and the reports (``overlap.json``, ``near_duplicates.json``).
"""
