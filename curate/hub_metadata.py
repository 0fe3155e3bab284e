"""The Hugging Face Hub's metadata vocabulary for a dataset card, and how a catalog's free-text license
strings map onto it.

The Hub rejects a card whose ``license`` is not one of its ids or whose ``size_categories`` is not one of
its buckets; its validator is an online service, so the lists it checks are kept here (from
https://huggingface.co/docs/hub/repositories-licenses and the ``datasets`` card resources) and
``card_problems`` applies them offline.
"""

from __future__ import annotations

import re
from typing import Any

HUB_LICENSES = frozenset({
    "apache-2.0", "mit", "openrail", "bigscience-openrail-m", "creativeml-openrail-m", "bigscience-bloom-rail-1.0",
    "bigcode-openrail-m", "afl-3.0", "artistic-2.0", "bsl-1.0", "bsd", "bsd-2-clause", "bsd-3-clause",
    "bsd-3-clause-clear", "c-uda", "cc", "cc0-1.0", "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0",
    "cc-by-sa-3.0", "cc-by-sa-4.0", "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "cc-by-nd-4.0",
    "cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0", "cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0",
    "cdla-sharing-1.0", "cdla-permissive-1.0", "cdla-permissive-2.0", "wtfpl", "ecl-2.0", "epl-1.0", "epl-2.0",
    "etalab-2.0", "eupl-1.1", "eupl-1.2", "agpl-3.0", "gfdl", "gpl", "gpl-2.0", "gpl-3.0", "lgpl", "lgpl-2.1",
    "lgpl-3.0", "isc", "h-research", "intel-research", "lppl-1.3c", "ms-pl", "apple-ascl", "apple-amlr", "mpl-2.0",
    "odc-by", "odbl", "openrail++", "osl-3.0", "postgresql", "ofl-1.1", "ncsa", "unlicense", "zlib", "pddl",
    "lgpl-lr", "deepfloyd-if-license", "llama2", "llama3", "llama3.1", "llama3.2", "llama3.3", "llama4", "gemma",
    "unknown", "other",
})
SIZE_CATEGORIES = ("n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M", "100M<n<1B",
                   "1B<n<10B", "10B<n<100B", "100B<n<1T", "n>1T")
HUB_TASK_CATEGORIES = frozenset({
    "text-classification", "token-classification", "table-question-answering", "question-answering",
    "zero-shot-classification", "translation", "summarization", "feature-extraction", "text-generation",
    "fill-mask", "sentence-similarity", "text-ranking", "text-retrieval", "multiple-choice",
})
MULTILINGUALITY = frozenset({"monolingual", "multilingual", "translation", "other"})

_SIMPLE = {"mit": "mit", "mit license": "mit", "apache 2.0": "apache-2.0", "apache-2.0": "apache-2.0",
           "apache license 2.0": "apache-2.0", "gpl-3.0": "gpl-3.0", "gpl 3.0": "gpl-3.0", "gplv3": "gpl-3.0",
           "gpl-2.0": "gpl-2.0", "cc0": "cc0-1.0", "cc0 1.0": "cc0-1.0", "odbl": "odbl", "pddl": "pddl",
           "unknown": "unknown", "": "unknown"}
_CREATIVE_COMMONS = re.compile(r"^cc[\s_-]*(by(?:[\s_-]*(?:nc|sa|nd))*)[\s_-]*(\d\.\d)\b")


def hub_license(text: str | None) -> str:
    """The Hub license id a catalog's license string names (``CC BY 4.0`` -> ``cc-by-4.0``), ``unknown`` when
    none is given, ``other`` when it names a license the Hub has no id for (CBLUE terms, public domain)."""
    value = (text or "").strip().lower()
    if value in HUB_LICENSES:
        return value
    if value in _SIMPLE:
        return _SIMPLE[value]
    match = _CREATIVE_COMMONS.match(value)
    if match:
        candidate = "cc-" + re.sub(r"[\s_-]+", "-", match.group(1)) + "-" + match.group(2)
        if candidate in HUB_LICENSES:
            return candidate
    return "other"


def license_slug(text: str) -> str:
    """A Hub ``license_name`` (lowercase letters, digits and dashes) for a license with no Hub id."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:64] or "other"


def size_category(n: int) -> str:
    """The Hub's size bucket of ``n`` rows, at every scale (``n<1K`` ... ``n>1T``)."""
    for exponent, name in enumerate(SIZE_CATEGORIES[:-1], start=3):
        if n < 10 ** exponent:
            return name
    return SIZE_CATEGORIES[-1]


def card_problems(header: dict[str, Any]) -> list[str]:
    """What the Hub's validator would reject in a dataset card header, checked offline (empty when valid)."""
    problems = []
    licenses = header.get("license") or []
    for value in [licenses] if isinstance(licenses, str) else licenses:
        if value not in HUB_LICENSES:
            problems.append(f"license {value!r} is not a Hub license id")
    if "other" in ([licenses] if isinstance(licenses, str) else licenses) and not header.get("license_name"):
        problems.append("license 'other' needs license_name")
    for value in header.get("size_categories") or []:
        if value not in SIZE_CATEGORIES:
            problems.append(f"size category {value!r} is not one of the Hub's")
    for value in header.get("task_categories") or []:
        if value not in HUB_TASK_CATEGORIES:
            problems.append(f"task category {value!r} is not one of the Hub's")
    multilinguality = header.get("multilinguality") or []
    for value in [multilinguality] if isinstance(multilinguality, str) else multilinguality:
        if value not in MULTILINGUALITY:
            problems.append(f"multilinguality {value!r} is not one of the Hub's")
    configs = header.get("configs") or []
    if len(configs) > 1 and sum(1 for c in configs if c.get("default")) != 1:
        problems.append("several configs and not exactly one marked default: load_dataset(folder) would fail")
    if "license_details" in header:
        problems.append("license_details is legacy metadata: use license_name/license_link")
    return problems
