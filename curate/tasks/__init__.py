"""Task families: how documents become examples, how answers are written, and how they are read back."""

from __future__ import annotations

from functools import cache

from curate.tasks.base import AnswerFormat, Example, LabelView, Task


@cache
def task_registry() -> dict[str, Task]:
    from curate.tasks.classification import ClassificationTask
    from curate.tasks.ner import NERTask
    from curate.tasks.qa import QATask
    from curate.tasks.relation import RelationTask
    from curate.tasks.text_pair import TextPairTask

    tasks: list[Task] = [NERTask(), RelationTask(), ClassificationTask(), TextPairTask(), QATask()]
    return {t.name: t for t in tasks}


def get_task(name: str) -> Task | None:
    return task_registry().get(name)


__all__ = ["AnswerFormat", "Example", "LabelView", "Task", "get_task", "task_registry"]
