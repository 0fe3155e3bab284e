"""docs/adding-a-dataset.md carries the current reference of every reader and option.

Regenerate the part between the markers with ``curate.readers.options_reference()`` when options change.
"""

from __future__ import annotations

from conftest import REPO

from curate.readers import options_reference, reader_class, reader_names

DOC = REPO / "docs" / "adding-a-dataset.md"


def _reference() -> str:
    text = DOC.read_text(encoding="utf-8")
    return text.split("<!-- options-reference:start -->\n", 1)[1].split("\n<!-- options-reference:end -->", 1)[0]


def test_reference_is_current() -> None:
    assert _reference() == options_reference(), "regenerate the reader reference in docs/adding-a-dataset.md"


def test_every_reader_option_is_documented() -> None:
    reference = _reference()
    for name in reader_names():
        section = reference.split(f"### `{name}`", 1)[1].split("\n### ", 1)[0]
        for option in reader_class(name).Options.model_fields:
            assert f"| `{option}` |" in section, (name, option)
