"""Sentence ends for windows: abbreviations and decimals never split, real abstracts split at true ends only."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import pytest

from curate.build.document_windows import split_long_document
from curate.readers.base import ReadContext
from curate.sentences import sentence_ends
from schemas.documents import IEDocument


def sentences(text: str) -> list[str]:
    ends = [0, *sentence_ends(text), len(text)]
    return [text[a:b] for a, b in pairwise(ends)]


@pytest.mark.parametrize("sentence", [
    "Fever is common in infections, e.g. influenza and measles. ",
    "The drug was stopped, i.e. after two doses. ",
    "Staining is shown in Fig. 1 and Fig. 2B. ",
    "Aspirin vs. placebo reduced the risk. ",
    "As Smith et al. reported, the dose matters. ",
    "Dr. Jones saw the patient twice. ",
    "The mean dose was 3.5 mg and 0.25 mL. ",
    "The difference was significant at p < 0.05. ",
    "Levels rose (P = 0.01; Fig. 3). ",
])
def test_abbreviations_and_decimals_never_split(sentence: str):
    text = sentence + "The next sentence starts here. And another one."
    assert sentences(text) == [sentence, "The next sentence starts here. ", "And another one."]


def test_line_breaks_and_chinese_marks_end_sentences_by_rule():
    assert sentences("Title without a stop\nBody text. More") == ["Title without a stop\n", "Body text. ", "More"]
    # the closing quote stays with its sentence (pySBD's Chinese rules would cut before it)
    split = sentences("他说：“我发热了。”然后去了医院！是否需要复查？")
    assert split == ["他说：“我发热了。”", "然后去了医院！", "是否需要复查？"]


def pubtator(path: Path, pmid: str) -> tuple[str, list[tuple[int, int, str]]]:
    """Title + " " + abstract of one PubTator document and its mentions (start, end, text)."""
    title = abstract = ""
    mentions = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(f"{pmid}|t|"):
            title = line.split("|", 2)[2]
        elif line.startswith(f"{pmid}|a|"):
            abstract = line.split("|", 2)[2]
        elif line.startswith(f"{pmid}\t"):
            fields = line.split("\t")
            if len(fields) >= 5:
                mentions.append((int(fields[1]), int(fields[2]), fields[3]))
    return f"{title} {abstract}", mentions


def test_real_abstracts_split_at_true_ends_only(shared_datasets: Path):
    bc5cdr = shared_datasets / "bc5cdr" / "CDR_TestSet.PubTator.txt"
    ncbi = shared_datasets / "ncbi_disease" / "NCBItestset_corpus.txt"
    text, _ = pubtator(bc5cdr, "24068571")
    split = sentences(text)
    assert ("The use of thiopentone was significantly associated with an eight-fold-higher risk for delirium compared "
            "to propofol (57.1% vs. 7.1%, RR = 8.0, X2 = 4.256; df = 1; 0.05 < p < 0.02). ") in split
    assert len(split) == 12  # the title and the abstract's 11 sentences
    text, _ = pubtator(bc5cdr, "24975837")
    assert sentences(text)[1].endswith("up-regulate cytokines (e.g., IL-1b and TNF-a). ")
    text, _ = pubtator(bc5cdr, "24333387")
    assert ("Further, in experiment set up 2: where memory function was not affected i.e. 7-9 days after STZ "
            "treatment. ") in sentences(text)
    text, _ = pubtator(ncbi, "9744473")
    assert "Recently, the R496H mutation of ARSA was proposed to be a cause of MLD (Draghia et al., 1997). " in (
        sentences(text))


def test_hoc_sentence_lines_are_recovered(shared_datasets: Path):
    """HoC gives one sentence per line: joined by spaces, the lines' ends must come back (HoC's own tokenizer
    splits some references, "J. Biol . / Chem.", and misses sentences starting in lower case, so not all)."""
    found = true = false = 0
    for path in sorted((shared_datasets / "hoc" / "text").glob("*.txt"))[:120]:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        text = " ".join(lines)
        truth = set()
        pos = 0
        for line in lines[:-1]:
            pos += len(line) + 1
            truth.add(pos)
        ends = set(sentence_ends(text))
        found, true, false = found + len(ends & truth), true + len(truth), false + len(ends - truth)
    assert found >= 0.99 * true, (found, true)
    assert false <= 0.02 * true, (false, true)  # the old rule (any ". " or ";") made ~20% false ends


def test_chinese_corpus_splits_at_its_marks(shared_datasets: Path):
    rows = [json.loads(line) for line in (shared_datasets / "cmeie" / "CMeIE_dev.jsonl").open(encoding="utf-8")]
    split = sentences(rows[1]["text"])
    assert "2.担忧自己的能力； " in split  # a Chinese mark ends it; the list number "2." does not
    assert split[-1] == ("（二）社交性焦虑 尽管两种疾病均害怕在公众场合下说话，"
                         "但广泛性焦虑也害怕对过去和将来情形的焦虑。")
    assert len(split) == 9


def test_real_abstract_windows_end_at_sentences_and_keep_entity_offsets(shared_datasets: Path):
    text, mentions = pubtator(shared_datasets / "bc5cdr" / "CDR_TestSet.PubTator.txt", "24068571")
    entities = [{"id": f"T{i}", "type": "Disease", "offsets": [(s, e)], "text": [mention]}
                for i, (s, e, mention) in enumerate(mentions)]
    doc = IEDocument(id="24068571", document_id="24068571", split="test", text=text, entities=entities)
    ctx = ReadContext("bc5cdr", "test", "CDR_TestSet.PubTator.txt")
    windows = split_long_document(doc, 400, ctx)
    assert "".join(w.text for w in windows) == text
    ends = set(sentence_ends(text))
    pos = 0
    for window in windows[:-1]:
        pos += len(window.text)
        assert pos in ends, window.text[-40:]  # never after "vs." or inside "57.1%"
    assert sum(len(w.entities) for w in windows) + len(ctx.rejects) == len(entities)
    for window in windows:
        for entity in window.entities:
            (s, e), = entity.offsets
            assert window.text[s:e] == entity.text[0]
