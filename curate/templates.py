"""Instruction templates: load them from YAML, lint them, pick one per example, render it.

Templates are data (one YAML file per task family in ``instruction_templates/``); each has a stable
id and an ``en`` and a ``zh`` Jinja text, rendered in a sandbox with StrictUndefined against the
task's pydantic prompt fields. The answer is written by the task's answer format, not the template.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from jinja2 import StrictUndefined, TemplateSyntaxError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from curate.catalog import parse_yaml
from curate.errors import TemplateError
from curate.tasks import Task, get_task, task_registry
from curate.tasks.base import stable_hash

LANGS = ("en", "zh")
# What one template may produce per example, and the largest string, sequence or number one expression may
# make (``'a' * 10**9``): far above any prompt, far below what would exhaust a worker's memory.
MAX_RENDER_CHARS = 2_000_000
MAX_VALUE_SIZE = 1_000_000


class TemplateSpec(BaseModel):
    """One instruction variant, in both languages."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9_.\-]+$")
    en: str
    zh: str
    subtasks: list[str] = Field(default_factory=list, description="empty = every subtask of the task")
    answer_format: str | None = None
    lists_labels: bool = Field(False, description="the prompt lists the label options")
    position: Literal["before", "after", "around"] = Field("before", description="instruction vs input")
    quoted: bool = False
    note: str = ""


class TemplateFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str
    templates: list[TemplateSpec]


@dataclass
class Template:
    spec: TemplateSpec
    task: str
    file: str
    compiled: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.spec.id

    def render(self, fields: BaseModel, lang: str, limit: int = MAX_RENDER_CHARS) -> str:
        """The prompt text; rendering stops with ``RenderTooLarge`` once it passes ``limit`` characters."""
        compiled = self.compiled.get(lang)
        if compiled is None:  # loaded with compile_now=False: compiled on first use
            compiled = self.compiled[lang] = jinja_env().from_string(getattr(self.spec, lang))
        parts: list[str] = []
        size = 0
        for chunk in compiled.generate(**fields.model_dump()):  # streamed: a runaway loop stops early
            size += len(chunk)
            if size > limit:
                raise RenderTooLarge(f"renders more than {limit:,} characters")
            parts.append(chunk)
        return "".join(parts).strip()


class RenderTooLarge(Exception):
    """A template's output passed MAX_RENDER_CHARS for one example."""


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple) else 0


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, plus bounds on the operations that make huge values from small ones:
    repetition (``*``), powers (``**``), ``%`` formatting widths, and calls with huge counts (``ljust``,
    ``center``, ``zfill``...). ``range`` is bounded by Jinja itself."""

    intercepted_binops = frozenset(["*", "**", "%"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        from jinja2.exceptions import SecurityError

        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if _size(seq) and isinstance(count, int) and _size(seq) * count > MAX_VALUE_SIZE:
                    raise SecurityError(f"repetition makes more than {MAX_VALUE_SIZE:,} items")
        elif operator == "**":
            if isinstance(left, int | float) and isinstance(right, int | float) and abs(right) > 64:
                raise SecurityError("exponent larger than 64")
        elif operator == "%" and isinstance(left, str) and any(int(w) > MAX_VALUE_SIZE
                                                               for w in _FORMAT_WIDTHS.findall(left)):
            raise SecurityError(f"format width above {MAX_VALUE_SIZE:,}")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        from jinja2.exceptions import SecurityError

        if any(isinstance(a, int) and not isinstance(a, bool) and a > MAX_VALUE_SIZE
               for a in (*args, *kwargs.values())):
            raise SecurityError(f"a call with a count above {MAX_VALUE_SIZE:,}")
        return super().call(__context, __obj, *args, **kwargs)


_FORMAT_WIDTHS = re.compile(r"%[-#0 +]*(\d+)")


@cache
def jinja_env() -> ImmutableSandboxedEnvironment:
    env = BoundedSandbox(undefined=StrictUndefined, autoescape=False, trim_blocks=True,
                         lstrip_blocks=True, keep_trailing_newline=False)
    return env


class TemplateLibrary:
    """All templates of a directory, indexed by task."""

    def __init__(self, templates: list[Template]) -> None:
        self.templates = templates
        self._eligible: dict[tuple[str, str, bool, bool | None], list[Template]] = {}
        self.by_task: dict[str, list[Template]] = {}
        for template in templates:
            self.by_task.setdefault(template.task, []).append(template)

    def eligible(self, task: str, subtask: str, has_labels: bool,
                 lists_labels: bool | None = None) -> list[Template]:
        """Templates for a subtask; without label options, none that lists them. ``lists_labels`` (the
        catalog's ``task_options.<task>.list_labels``) keeps only templates that do (true) or do not
        (false) list them, when there are such templates. Cached per key."""
        key = (task, subtask, has_labels, lists_labels)
        if key not in self._eligible:
            found = [t for t in self.by_task.get(task, []) if not t.spec.subtasks or subtask in t.spec.subtasks]
            if not has_labels:
                found = [t for t in found if not t.spec.lists_labels]
            if lists_labels is not None:
                found = [t for t in found if t.spec.lists_labels == lists_labels] or found
            self._eligible[key] = found
        return self._eligible[key]

    def choose(self, task: str, subtask: str, has_labels: bool, key: str, seed: int, copy: int = 0,
               lists_labels: bool | None = None) -> Template | None:
        """A template picked by a seeded hash of the example id; ``copy`` > 0 walks to other variants."""
        found = self.eligible(task, subtask, has_labels, lists_labels)
        if not found:
            return None
        start = int(stable_hash(seed, key, "template"), 16) % len(found)
        return found[(start + copy) % len(found)]


class _RawTemplateFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str
    templates: list[dict[str, Any]]


def _read_template_file(path: Path) -> TemplateFile:
    """Parse and validate one file, naming the template (by id, else by position) that is wrong."""
    try:
        raw = _RawTemplateFile.model_validate(parse_yaml(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, ValidationError) as exc:
        raise TemplateError(str(path), "-", f"not a valid template file: {exc}") from None
    specs = []
    for index, item in enumerate(raw.templates):
        try:
            specs.append(TemplateSpec.model_validate(item))
        except ValidationError as exc:
            errors = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '-'}: {e['msg']}"
                               for e in exc.errors())
            raise TemplateError(str(path), str(item.get("id", f"templates[{index}]")), errors) from None
    return TemplateFile(task=raw.task, templates=specs)


def templates_fingerprint(directory: str | Path) -> str:
    """A hash of every template file, so cached renders are redone when a template changes."""
    digest = hashlib.sha256()
    for path in sorted(Path(directory).glob("*.yaml")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:32]


def load_templates(directory: str | Path, *, strict: bool = True, compile_now: bool = True) -> TemplateLibrary:
    """Load and compile every ``*.yaml`` in ``directory``; any problem raises ``TemplateError``.

    ``compile_now=False`` (build workers, once the driver has loaded the same files) checks only the
    YAML and compiles each template when it is first rendered: a worker uses few of them."""
    directory = Path(directory)
    if not directory.is_dir():
        raise TemplateError(str(directory), "-",
                            "template directory not found; set `templates:` in the catalog")
    templates: list[Template] = []
    seen: dict[str, str] = {}
    env = jinja_env()
    for path in sorted(directory.glob("*.yaml")):
        tfile = _read_template_file(path)
        task = get_task(tfile.task)
        if task is None:
            raise TemplateError(str(path), "-",
                                f"unknown task {tfile.task!r}; known: {sorted(task_registry())}")
        for spec in tfile.templates:
            if spec.id in seen:
                raise TemplateError(str(path), spec.id, f"id already used in {seen[spec.id]}")
            seen[spec.id] = str(path)
            unknown_subtasks = sorted(set(spec.subtasks) - set(task.subtasks))
            if unknown_subtasks:
                raise TemplateError(str(path), spec.id, f"unknown subtasks {unknown_subtasks}; "
                                    f"{tfile.task} has {list(task.subtasks)}")
            template = Template(spec, tfile.task, str(path))
            for lang in LANGS if compile_now else ():
                source = getattr(spec, lang)
                try:
                    ast = env.parse(source)
                    unknown = meta.find_undeclared_variables(ast) - set(task.PromptFields.model_fields)
                    template.compiled[lang] = env.from_string(ast)  # compiled from the tree: parsed once
                except TemplateSyntaxError as exc:
                    raise TemplateError(str(path), spec.id, f"{lang}: Jinja syntax error line {exc.lineno}: "
                                        f"{exc.message}") from None
                if strict and unknown:
                    known = sorted(task.PromptFields.model_fields)
                    raise TemplateError(str(path), spec.id, f"{lang}: uses {sorted(unknown)}, not fields "
                                        f"of {task.PromptFields.__name__} ({known})")
            if spec.answer_format and spec.answer_format not in task.formats:
                raise TemplateError(str(path), spec.id, f"unknown answer_format {spec.answer_format!r}; "
                                    f"{tfile.task} has {sorted(task.formats)}")
            templates.append(template)
    return TemplateLibrary(templates)


def _sample_value(annotation: Any, variant: int) -> Any:
    origin = get_origin(annotation)
    if annotation is bool:
        return variant % 2 == 0
    if annotation is int:
        return 2
    if origin is list:
        return ["alpha", "beta"] if variant % 2 == 0 else ["alpha"]
    if origin is dict:
        return {"a": "b"}
    if origin is Literal:
        return get_args(annotation)[0]
    return "sample text" if variant % 2 == 0 else ""


def sample_fields(task: Task, variant: int) -> BaseModel:
    """Placeholder prompt fields of every shape a template may see (lists of one or two, flags both ways)."""
    values = {name: _sample_value(info.annotation, variant)
              for name, info in task.PromptFields.model_fields.items()}
    return task.PromptFields.model_construct(**values)


def lint(directory: str | Path) -> list[dict[str, Any]]:
    """Lint every template: syntax, known fields, ids, both languages, sandboxed strict render.

    Returns one row per template; raises TemplateError on the first problem.
    """
    library = load_templates(directory)
    rows = []
    for template in library.templates:
        task = get_task(template.task)
        assert task is not None
        for lang in LANGS:
            if not getattr(template.spec, lang).strip():
                raise TemplateError(template.file, template.id, f"the {lang} text is empty")
            for variant in (0, 1):
                try:
                    rendered = template.render(sample_fields(task, variant), lang)
                except Exception as exc:  # StrictUndefined, sandbox violations, filter errors
                    raise TemplateError(template.file, template.id,
                                        f"{lang}: does not render: {exc}") from None
                if not rendered:
                    raise TemplateError(template.file, template.id, f"{lang}: renders to an empty prompt")
        rows.append({"id": template.id, "task": template.task, "subtasks": template.spec.subtasks,
                     "quoted": template.spec.quoted,
                     "languages": list(LANGS), "answer_format": template.spec.answer_format or "task default",
                     "lists_labels": template.spec.lists_labels, "position": template.spec.position,
                     "file": template.file})
    for name in sorted(library.by_task):  # tasks without a file are simply not served by this directory
        task = get_task(name)
        assert task is not None
        for subtask in task.subtasks:
            if not library.eligible(name, subtask, has_labels=True):
                raise TemplateError(str(directory), "-", f"no template for task {name} subtask {subtask}")
    return rows
