"""A one-dataset catalog over the demo's CDR PubTator files (or any files of that format), for tests that
need a small real build without the whole demo catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

CDR_LABELS = {
    "Chemical": {"en": "chemical", "zh": "化学物质", "kind": "entity"},
    "Disease": {"en": "disease", "zh": "疾病", "kind": "entity"},
    "CID": {"en": "chemical induces disease", "zh": "化学物质诱发疾病", "kind": "relation"},
}


def write_cdr_catalog(path: Path, templates: Path, files: dict[str, str], **top: Any) -> Path:
    """``path`` as a catalog of one PubTator dataset ``cdr`` (NER and RE) with ``files`` per split; a split
    other than ``train`` is an evaluation split. ``top`` adds top-level keys (e.g. ``output``)."""
    dataset: dict[str, Any] = {"name": "cdr", "language": "en", "tasks": ["ner", "re"], "format": "pubtator",
                               "files": files, "labels": CDR_LABELS}
    if set(files) - {"train"}:
        dataset["eval_splits"] = sorted(set(files) - {"train"})
    catalog = {"templates": str(templates), **top, "stages": [{"name": "all"}], "datasets": [dataset]}
    path.write_text(yaml.safe_dump(catalog, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
