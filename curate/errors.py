"""Exceptions a user can hit, each with a message that names the file, the key and the fix."""

from __future__ import annotations


class CurateError(Exception):
    """Base of every error curate reports to a user (the CLI prints these without a traceback)."""


class CatalogError(CurateError):
    """The catalog is malformed: wrong key, unknown reader, missing file, unmapped label."""

    def __init__(self, file: str, key: str, problem: str, fix: str = "") -> None:
        self.file, self.key, self.problem, self.fix = file, key, problem, fix
        message = f"{file}: {key}: {problem}"
        if fix:
            message += f"\n  fix: {fix}"
        super().__init__(message)


class TemplateError(CurateError):
    """A template does not parse, uses an unknown field, or lacks its other-language twin."""

    def __init__(self, file: str, template_id: str, problem: str) -> None:
        self.file, self.template_id, self.problem = file, template_id, problem
        super().__init__(f"{file}: template {template_id}: {problem}")
