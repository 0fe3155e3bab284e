"""Cleaning on real corpora: build a subset of tests/catalogs/shared.yaml with document overlap and
near-duplicate detection on, and print what overlap.json and near_duplicates.json found (docs/cleaning.md).

    python bench/cleaning_shared.py --out /tmp/clean-shared --workers 2 \\
        --datasets chemprot,drugprot,bc5cdr,ncbi_disease,cmeee,kuake_qic,kuake_qqr --train drugprot:dev

``--train DATASET:SPLIT`` makes a split a training split of this build (the shared copies of ChemProt and
DrugProt hold their development sets only), so that an overlap with another dataset's evaluation split is
removed as contamination, as it would be in a build with the full corpora.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SHARED = REPO / "tests" / "catalogs" / "shared.yaml"


def subset_catalog(datasets: list[str], train: list[str], out: Path, near: bool) -> Path:
    catalog = yaml.safe_load(SHARED.read_text(encoding="utf-8"))
    catalog["templates"] = str(REPO / "instruction_templates")
    chosen = []
    for entry in catalog["datasets"]:
        if entry["name"] not in datasets or not entry.get("files"):
            continue
        entry["files"] = {split: ([str((SHARED.parent / f).resolve()) for f in files] if isinstance(files, list)
                                  else str((SHARED.parent / files).resolve()))
                          for split, files in entry["files"].items()}
        for item in train:
            name, split = item.split(":")
            if name == entry["name"]:
                entry["eval_splits"] = [s for s in entry.get("eval_splits", []) if s != split]
                entry["train_splits"] = sorted({*entry.get("train_splits", ["train"]), split})
        chosen.append(entry)
    catalog["datasets"] = chosen
    catalog["stages"] = [{"name": "all"}]
    catalog.setdefault("output", {}).update({"near_duplicates": {"enabled": near}})
    path = out / "catalog.yaml"
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(catalog, allow_unicode=True), encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--datasets", default="chemprot,drugprot,bc5cdr,ncbi_disease,cmeee,kuake_qic,kuake_qqr")
    parser.add_argument("--train", default="", help="DATASET:SPLIT,... made training splits")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-near-duplicates", action="store_true")
    args = parser.parse_args()
    from curate.build import run_build

    catalog = subset_catalog(args.datasets.split(","), [t for t in args.train.split(",") if t], args.out,
                             not args.no_near_duplicates)
    start = time.perf_counter()
    result = run_build(catalog, args.out / "build", workers=args.workers, progress=False)
    seconds = time.perf_counter() - start
    overlap = json.loads((result.out_dir / "overlap.json").read_text(encoding="utf-8"))
    print(f"build: {seconds:.1f} s, steps {result.timings}")
    for pair in overlap["shared"]:
        print(f"shared: {pair['a']} ~ {pair['b']}: {pair['documents']} documents")
    for name, entry in overlap["contamination"].items():
        print(f"removed from {name}: {len(entry['documents'])} documents, {entry['examples_removed']} examples "
              f"({entry['evaluation_sets']})")
    near_path = result.out_dir / "near_duplicates.json"
    if near_path.exists():
        near = json.loads(near_path.read_text(encoding="utf-8"))
        sizes = [c["size"] for c in near["clusters"]]
        print(f"near-duplicate clusters: {len(sizes)} (largest {max(sizes, default=0)}), documents removed "
              f"{near['documents_removed']}, examples removed {near['examples_removed']}")
    manifest = json.loads((result.out_dir / "all" / "manifest.json").read_text(encoding="utf-8"))
    for row in manifest["counts"]["by_dataset"]:
        print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    main()
