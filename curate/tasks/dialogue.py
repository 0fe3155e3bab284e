"""Multi-turn medical dialogue: the doctor's replies to a patient, turn after turn.

A dialogue becomes one record whose messages alternate user (patient) and assistant (doctor); the
template frames the first user turn. The gold answer is the last doctor turn.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from pydantic import BaseModel

from curate.catalog import DatasetEntry
from curate.tasks.base import AnswerFormat, Example, Gold, Task, normalize_answer
from curate.tasks.qa import FreeText
from schemas.documents import DialogueDocument

# the turns kept, ending with the final doctor turn: long consultations would exceed the length budget
MAX_TURNS = 12


class DialogueFields(BaseModel):
    """What a dialogue template may use: the patient's self-report and first message."""

    context: str
    first_turn: str
    n_turns: int


class DialogueTask(Task):
    name = "dialogue"
    subtasks = ("single_turn", "multi_turn")
    document_kind = "dialogue"
    PromptFields = DialogueFields
    formats: ClassVar[dict[str, AnswerFormat]] = {f.name: f for f in (FreeText(),)}
    default_format = "free_text"
    metric = "token_f1"
    text_fields = ("context", "turns")

    def examples(self, doc: DialogueDocument, entry: DatasetEntry, source_file: str) -> Iterator[Example]:
        last = max((i for i, t in enumerate(doc.turns) if t.role == "assistant"), default=-1)
        if last < 0:
            return
        start = max(0, last + 1 - MAX_TURNS)
        while start < last and doc.turns[start].role != "user":
            start += 1
        turns = [[t.role, t.content] for t in doc.turns[start:last + 1]]
        text = "\n".join(c for _, c in turns)
        subtask = "multi_turn" if len(turns) > 2 else "single_turn"
        yield self.new_example(doc, entry, source_file, subtask, "all",
                               {"context": doc.context, "turns": turns, "options": []}, turns[-1][1],
                               f"{doc.context}\n{text}".strip())

    def prompt_fields(self, example: Example, entry: DatasetEntry, lang: str) -> DialogueFields:
        turns = example.fields["turns"]
        first = turns[0][1] if turns[0][0] == "user" else ""
        return DialogueFields(context=example.fields["context"], first_turn=first, n_turns=len(turns))

    def messages(self, example: Example, entry: DatasetEntry, lang: str, prompt: str,
                 response: str) -> list[dict[str, str]]:
        turns = example.fields["turns"]
        rest = turns[1:] if turns[0][0] == "user" else turns
        messages = [{"role": "user", "content": prompt}]
        for role, content in rest[:-1]:
            if messages[-1]["role"] == role:  # keep strict alternation
                messages[-1]["content"] += "\n" + content
            else:
                messages.append({"role": role, "content": content})
        if messages[-1]["role"] == "assistant":
            messages.append({"role": "user", "content": "Please go on." if lang == "en" else "请继续。"})
        messages.append({"role": "assistant", "content": response})
        return messages

    def score_items(self, value: Gold, fields: dict[str, Any]) -> set[Any]:
        return {normalize_answer(value or "")}
