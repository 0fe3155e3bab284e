"""Corpus BLEU and chrF (sacrebleu) and ROUGE (rouge-score) for generated text: translation and
text-to-text answers, scored beside token F1 by ``curate eval``.

Chinese has no spaces, so a whitespace tokenizer sees a whole sentence as one word: BLEU uses sacrebleu's
``zh`` tokenizer (one token per Chinese character, 13a for the rest) whenever a reference holds Chinese,
and ROUGE counts Chinese characters and other words as tokens (``evaluate.text_tokens``), as token F1 does.
chrF works on characters and needs no tokenizer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


class _RougeTokenizer:
    """rouge-score's tokenizer interface over our tokens (its default drops every non-ASCII character)."""

    def __init__(self, tokens: Callable[[str], list[str]]) -> None:
        self.tokens = tokens

    def tokenize(self, text: str) -> list[str]:
        return self.tokens(text)


def text_scores(references: list[str], hypotheses: list[str], tokens: Callable[[str], list[str]]) -> dict[str, Any]:
    """Corpus BLEU, chrF and mean ROUGE-1/2/L F-measure (0-100) of ``hypotheses`` against ``references``
    (one reference each; an empty hypothesis is a missing or unreadable answer)."""
    if not references:
        return {"bleu": None, "chrf": None, "rouge1": None, "rouge2": None, "rougeL": None}
    from rouge_score import rouge_scorer
    from sacrebleu.metrics import BLEU, CHRF

    tokenize = "zh" if any(_CJK.search(r) for r in references) else "13a"
    bleu = BLEU(tokenize=tokenize).corpus_score(hypotheses, [references]).score
    chrf = CHRF().corpus_score(hypotheses, [references]).score
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], tokenizer=_RougeTokenizer(tokens))
    sums = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    for reference, hypothesis in zip(references, hypotheses, strict=True):
        for name, value in scorer.score(reference, hypothesis).items():
            sums[name] += value.fmeasure
    rouge = {name: 100 * total / len(references) for name, total in sums.items()}
    return {"bleu": bleu, "chrf": chrf, "bleu_tokenize": tokenize, **rouge}
