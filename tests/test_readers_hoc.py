"""HoC reader on tiny folders: `<` fields per sentence, AND-joined labels, `--` hierarchy, NULL, bad inputs.

The document's labels are the union of its sentences' labels, top level by default.
"""

from __future__ import annotations

from conftest import DATA, reasons

D = DATA / "hoc" / "text"
HALLMARKS = ("Sustaining proliferative signaling", "Resisting cell death", "Inducing angiogenesis")


def test_labels_top_level_and_full(read) -> None:
    (doc,), ctx = read("hoc", D / "1.txt")
    assert ctx.rejects == [] and doc.multi_label
    assert doc.labels == list(HALLMARKS)
    assert doc.text == "Cells proliferate .\nAngiogenesis is induced .\nNothing here ."
    (doc,), _ = read("hoc", D / "1.txt", {"hierarchy": "full"})
    assert doc.labels[0] == "Sustaining proliferative signaling--Receptors"


def test_no_label_is_an_empty_list(read) -> None:
    (doc,), ctx = read("hoc", D / "2.txt")
    assert doc.labels == [] and ctx.rejects == []


def test_bad_inputs_are_named(read) -> None:
    docs, ctx = read("hoc", D / "3.txt", labels=HALLMARKS)
    assert docs == [] and reasons(ctx) == [
        "labels file has 1 fields for 2 sentences; labels kept for the document", "unknown label ['Made up hallmark']"]
    docs, ctx = read("hoc", D / "4.txt")
    assert docs == [] and "no labels file labels/4.txt" in reasons(ctx)[0]
    docs, ctx = read("hoc", D / "5.txt")
    assert docs == [] and reasons(ctx) == ["the file is empty"]
    docs, ctx = read("hoc", D / "6.txt")
    assert docs == [] and "not valid utf-8" in reasons(ctx)[0]
