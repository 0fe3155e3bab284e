"""Task families: how documents become examples, how answers are written, and how they are read back."""

from __future__ import annotations

from functools import cache

from curate.tasks.base import AnswerFormat, Example, LabelView, Task


@cache
def task_registry() -> dict[str, Task]:
    from curate.tasks.classification import ClassificationTask
    from curate.tasks.dialogue import DialogueTask
    from curate.tasks.event import EventTask
    from curate.tasks.ner import NERTask
    from curate.tasks.normalization import NormalizationTask
    from curate.tasks.qa import QATask
    from curate.tasks.relation import RelationTask
    from curate.tasks.text_pair import TextPairTask
    from curate.tasks.text_to_text import TextToTextTask
    from curate.tasks.translation import TranslationTask

    tasks: list[Task] = [NERTask(), NormalizationTask(), RelationTask(), EventTask(), ClassificationTask(),
                         TextPairTask(), QATask(), DialogueTask(), TranslationTask(), TextToTextTask()]
    return {t.name: t for t in tasks}


@cache
def tasks_fingerprint() -> str:
    """A hash of the task code: phase-1 examples cached under an older version of it are not reused."""
    import hashlib
    from pathlib import Path

    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def get_task(name: str) -> Task | None:
    return task_registry().get(name)


__all__ = ["AnswerFormat", "Example", "LabelView", "Task", "get_task", "task_registry", "tasks_fingerprint"]
