"""Readers of native corpus formats, one module per format family.

Every module in this package that defines ``Reader`` subclasses is discovered automatically: a new
family is one new module, and the catalog names it by the reader's ``name``.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from pydantic import ValidationError

from curate.readers.base import ReadContext, Reader, Reject


@cache
def _registry() -> dict[str, type[Reader]]:
    found: dict[str, type[Reader]] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module_info.name.startswith("_") or module_info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        for value in vars(module).values():
            is_reader = isinstance(value, type) and issubclass(value, Reader) and bool(value.name)
            if is_reader and value.__module__ == module.__name__:
                if value.name in found:
                    raise RuntimeError(f"reader name {value.name!r} defined twice")
                found[value.name] = value
    return found


def reader_names() -> list[str]:
    return sorted(_registry())


def get_reader(name: str, options: dict | None = None) -> Reader:
    return _registry()[name](options)


def reader_class(name: str) -> type[Reader]:
    return _registry()[name]


def validate_reader_options(name: str, options: dict) -> str | None:
    """None when ``options`` are valid for reader ``name``, else a one-line problem."""
    try:
        _registry()[name].Options(**options)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        return f"{key}: {err['msg']}" if key else err["msg"]
    return None


def options_reference() -> str:
    """Markdown reference of every reader and its options, as docs/adding-a-dataset.md embeds it."""
    lines: list[str] = []
    for name in reader_names():
        cls = _registry()[name]
        lines += [f"### `{name}`", "", f"{cls.description} (`{cls.__module__}`).", ""]
        fields = cls.Options.model_fields
        if not fields:
            lines += ["No options.", ""]
            continue
        lines += ["| option | type | default | meaning |", "|---|---|---|---|"]
        for field_name, info in fields.items():
            kind = str(info.annotation).replace("typing.", "").replace("<class '", "").replace("'>", "")
            kind = kind.replace("|", "\\|")  # a pipe inside a table cell must be escaped, even in code
            if info.is_required():
                default = "required"
            elif info.default_factory is not None:
                default = f"`{info.default_factory()!r}`"  # type: ignore[call-arg]
            else:
                default = f"`{info.default!r}`"
            meaning = (info.description or "").replace("|", "\\|")
            lines.append(f"| `{field_name}` | `{kind}` | {default.replace('|', chr(92) + '|')} | {meaning} |")
        lines.append("")
    return "\n".join(lines)


__all__ = ["ReadContext", "Reader", "Reject", "get_reader", "options_reference", "reader_class", "reader_names",
           "validate_reader_options"]
