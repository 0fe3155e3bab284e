"""The unified document schemas every reader produces, BigBIO-shaped as Taiyi used them.

One model per task family. Offsets are always 0-based and end-exclusive into the document's
``text``; readers convert their format's convention and the models check every span.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Span = tuple[int, int]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class Normalization(_Model):
    """A link from a mention to a knowledge-base entry (MeSH, OMIM, UMLS, ...)."""

    db_name: str
    db_id: str


class Passage(_Model):
    """A titled or untitled region of the document text (title, abstract, sentence, utterance)."""

    id: str
    type: str
    offsets: list[Span]


class Entity(_Model):
    """A mention: one span, or several for a discontinuous mention; ``text`` holds one string per span."""

    id: str
    type: str
    offsets: list[Span] = Field(min_length=1)
    text: list[str] = Field(min_length=1)
    normalized: list[Normalization] = Field(default_factory=list)
    attributes: dict[str, str] = Field(default_factory=dict, description="BRAT attributes, e.g. Negated: true")

    @model_validator(mode="after")
    def _spans_and_texts_agree(self) -> Entity:
        if len(self.offsets) != len(self.text):
            raise ValueError(f"entity {self.id}: {len(self.offsets)} offsets but {len(self.text)} texts")
        for start, end in self.offsets:
            if not 0 <= start < end:
                raise ValueError(f"entity {self.id}: bad span [{start}, {end})")
        return self

    @property
    def mention(self) -> str:
        """The surface form as one string (discontinuous parts joined by a space)."""
        return " ".join(self.text)


class Relation(_Model):
    """A typed, directed link between two entities (arg1 = head, arg2 = tail)."""

    id: str
    type: str
    arg1_id: str
    arg2_id: str
    normalized: list[Normalization] = Field(default_factory=list)


class Trigger(_Model):
    offsets: list[Span]
    text: list[str]


class EventArgument(_Model):
    """A role filled by an entity or another event (``ref_id``), or by text when ``ref_id`` is empty.

    A text argument may carry its ``offsets`` (BioNLP-ST secondary arguments such as ``Site`` that
    are annotated in .a2 only to fill a role); the document then checks them like entity spans.
    """

    role: str
    ref_id: str = ""
    text: str = ""
    offsets: list[Span] = Field(default_factory=list)


class Event(_Model):
    id: str
    type: str
    trigger: Trigger | None = None
    arguments: list[EventArgument] = Field(default_factory=list)
    attributes: dict[str, str] = Field(default_factory=dict)


class Coreference(_Model):
    id: str
    entity_ids: list[str] = Field(min_length=2)


class _Document(_Model):
    id: str
    document_id: str
    split: str = "train"


class IEDocument(_Document):
    """Information-extraction document: NER, normalization, RE, events and coreference over one text."""

    kind: Literal["ie"] = "ie"
    text: str
    passages: list[Passage] = Field(default_factory=list)
    entities: list[Entity] = Field(default_factory=list)
    relations: list[Relation] = Field(default_factory=list)
    events: list[Event] = Field(default_factory=list)
    coreferences: list[Coreference] = Field(default_factory=list)
    stats: dict[str, int] = Field(default_factory=dict,
                                  description="format-specific counts, e.g. DDI candidate pairs, for validate")

    @model_validator(mode="after")
    def _offsets_match_text(self) -> IEDocument:
        n = len(self.text)
        for passage in self.passages:
            for start, end in passage.offsets:
                if not 0 <= start <= end <= n:
                    raise ValueError(f"passage {passage.id}: span [{start}, {end}) outside text of length {n}")
        ids: set[str] = set()
        for entity in self.entities:
            if entity.id in ids:
                raise ValueError(f"entity id {entity.id} used twice")
            ids.add(entity.id)
            for (start, end), text in zip(entity.offsets, entity.text, strict=True):
                if end > n:
                    raise ValueError(f"entity {entity.id}: span [{start}, {end}) outside text of length {n}")
                if self.text[start:end] != text:
                    raise ValueError(
                        f"entity {entity.id}: text at [{start}, {end}) is {self.text[start:end]!r}, not {text!r}"
                    )
        for event in self.events:
            if event.trigger is not None:
                for (start, end), text in zip(event.trigger.offsets, event.trigger.text, strict=True):
                    if not 0 <= start < end <= n or self.text[start:end] != text:
                        raise ValueError(f"event {event.id}: trigger span [{start}, {end}) does not match {text!r}")
            ids.add(event.id)
        for relation in self.relations:
            for arg in (relation.arg1_id, relation.arg2_id):
                if arg not in ids:
                    raise ValueError(f"relation {relation.id}: argument {arg} is not an entity of the document")
        for event in self.events:
            for argument in event.arguments:
                if argument.ref_id and argument.ref_id not in ids:
                    raise ValueError(f"event {event.id}: argument {argument.ref_id} is not in the document")
                if argument.offsets:
                    found = " ".join(self.text[s:e] for s, e in argument.offsets)
                    if any(not 0 <= s < e <= n for s, e in argument.offsets) or found != argument.text:
                        raise ValueError(f"event {event.id}: argument {argument.role} spans {argument.offsets} "
                                         f"do not hold {argument.text!r}")
        for coref in self.coreferences:
            missing = [e for e in coref.entity_ids if e not in ids]
            if missing:
                raise ValueError(f"coreference {coref.id}: unknown entities {missing}")
        return self

    def entity(self, entity_id: str) -> Entity:
        for entity in self.entities:
            if entity.id == entity_id:
                return entity
        raise KeyError(entity_id)


class ClassificationDocument(_Document):
    """Single- or multi-label text classification; ``labels`` holds the dataset's raw label names."""

    kind: Literal["tc"] = "tc"
    text: str
    labels: list[str] = Field(default_factory=list)
    multi_label: bool = False

    @model_validator(mode="after")
    def _single_label_has_one(self) -> ClassificationDocument:
        if not self.multi_label and len(self.labels) > 1:
            raise ValueError(f"single-label document has {len(self.labels)} labels")
        return self


class TextPairDocument(_Document):
    """Two texts and a relation label: semantic similarity (``ss``) or entailment (``te``)."""

    kind: Literal["tp"] = "tp"
    subtask: Literal["ss", "te"] = "ss"
    text_1: str
    text_2: str
    label: str


class QADocument(_Document):
    """A question with yes/no/maybe, multiple-choice, or free answers, with or without context."""

    kind: Literal["qa"] = "qa"
    qa_type: Literal["yesno", "multiple_choice", "free"]
    question: str
    context: str = ""
    choices: list[str] = Field(default_factory=list)
    answer: list[str] = Field(min_length=1)
    long_answer: str = ""

    @model_validator(mode="after")
    def _answer_fits_type(self) -> QADocument:
        if self.qa_type == "multiple_choice":
            if len(self.choices) < 2:
                raise ValueError("multiple-choice question needs at least 2 choices")
            missing = [a for a in self.answer if a not in self.choices]
            if missing:
                raise ValueError(f"answer {missing} is not among the choices")
        if self.qa_type == "yesno":
            bad = [a for a in self.answer if a not in ("yes", "no", "maybe")]
            if bad:
                raise ValueError(f"yes/no answer must be yes, no or maybe, got {bad}")
        return self


class Turn(_Model):
    role: Literal["user", "assistant"]
    content: str


class DialogueDocument(_Document):
    """A multi-turn conversation; user turns are the patient's, assistant turns the doctor's."""

    kind: Literal["dialogue"] = "dialogue"
    turns: list[Turn] = Field(min_length=2)
    context: str = ""


class TranslationDocument(_Document):
    """Parallel texts keyed by language code (``en``, ``zh``)."""

    kind: Literal["mt"] = "mt"
    texts: dict[str, str]

    @model_validator(mode="after")
    def _two_languages(self) -> TranslationDocument:
        if len(self.texts) < 2:
            raise ValueError("a translation needs at least two languages")
        return self


class TextToTextDocument(_Document):
    """Input text to output text: summary, title, report (``output_sections`` for structured reports)."""

    kind: Literal["t2t"] = "t2t"
    subtask: Literal["summary", "title", "report", "other"] = "other"
    input: str
    output: str
    output_sections: dict[str, str] = Field(default_factory=dict)


Document = Annotated[
    IEDocument
    | ClassificationDocument
    | TextPairDocument
    | QADocument
    | DialogueDocument
    | TranslationDocument
    | TextToTextDocument,
    Field(discriminator="kind"),
]

DOCUMENT_KINDS: dict[str, type[_Document]] = {
    "ie": IEDocument,
    "tc": ClassificationDocument,
    "tp": TextPairDocument,
    "qa": QADocument,
    "dialogue": DialogueDocument,
    "mt": TranslationDocument,
    "t2t": TextToTextDocument,
}
