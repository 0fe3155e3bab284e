"""Cleaning (curate/cleaning): planted near-duplicates at known Jaccard similarities, a planted leak of
one dataset's evaluation document into another's training split, every quality filter, and builds that
reconcile their counts and give the same bytes with 1 and 2 workers."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from curate.catalog import NearDuplicates, QualityFilters
from curate.cleaning.minhash import MinHasher, agreements, bucket_pairs, clusters, jaccard, token_hashes, verified
from curate.cleaning.overlap import DocumentRef, document_key, leaked_training, shared_groups
from curate.cleaning.plan import merge_pairs, partition_pairs
from curate.cleaning.quality import document_problem, record_problem
from curate.decontam import tokens

WORDS = [f"w{i:04d}" for i in range(5000)]
HANZI = [chr(0x4E00 + i) for i in range(3000)]


def _variant(base: list[str], pool: list[str], changes: int, rng: random.Random) -> list[str]:
    """``base`` with ``changes`` tokens replaced by fresh ones at random places."""
    out = list(base)
    for at in rng.sample(range(len(out)), changes):
        out[at] = rng.choice(pool)
    return out


def _planted(language: str, seed: int = 7) -> tuple[list[str], list[tuple[int, int]]]:
    """Pairs of texts with a spread of similarities (from identical to unrelated) and their indexes."""
    rng = random.Random(seed)
    pool, join, length = (WORDS, " ", 300) if language == "en" else (HANZI, "", 200)
    texts, pairs = [], []
    for number in range(240):
        base = [rng.choice(pool) for _ in range(length)]
        changes = number % 40  # 0 .. 39 edits: Jaccard from 1.0 down to about 0.2 (5-grams) / 0.4 (3-grams)
        texts.extend([join.join(base), join.join(_variant(base, pool, changes, rng))])
        pairs.append((2 * number, 2 * number + 1))
    return texts, pairs


@pytest.mark.parametrize("language", ["en", "zh"])
def test_planted_near_duplicates_found_and_no_false_pairs(language):
    hasher = MinHasher()
    settings = NearDuplicates(enabled=True)
    texts, planted = _planted(language)
    shingles = [set(hasher.shingles(t, language).tolist()) for t in texts]
    signatures = np.stack([hasher.signature(t, language) for t in texts])
    found, _ = verified(bucket_pairs(hasher.band_keys(signatures)), signatures, settings.threshold)
    found_set = {tuple(p) for p in found.tolist()}
    similar = [(a, b) for a, b in planted if jaccard(shingles[a], shingles[b]) >= 0.8]
    assert len(similar) >= 40, "the fixture must plant enough pairs at Jaccard >= 0.8"
    recall = sum((a, b) in found_set for a, b in similar) / len(similar)
    assert recall >= 0.95, recall
    below = [(a, b) for a, b in found_set if jaccard(shingles[a], shingles[b]) < 0.5]
    assert below == []
    # the fixture has pairs on both sides of the threshold, and unrelated texts never pair
    assert any(jaccard(shingles[a], shingles[b]) < 0.5 for a, b in planted)
    assert all(b == a + 1 and a % 2 == 0 for a, b in found_set)


def test_band_partitions_give_the_same_pairs_as_one():
    settings = NearDuplicates(enabled=True)
    hasher = MinHasher()
    texts, _ = _planted("en", seed=3)
    signatures = np.stack([hasher.signature(t, "en") for t in texts])
    whole = merge_pairs([partition_pairs(signatures, settings, 0, 1)])
    split = merge_pairs([partition_pairs(signatures, settings, p, 3) for p in (2, 0, 1)])
    assert np.array_equal(whole[0], split[0]) and np.array_equal(whole[1], split[1])
    assert len(whole[0]) > 50


def test_tokens_take_every_cjk_character_alone_even_after_digits_and_latin():
    # "[^\\W_]+" alone swallowed the CJK characters after a number or a Latin word ("12天后好转" one token)
    assert tokens("服用阿司匹林12天后好转，HbA1c升高") == [
        "服", "用", "阿", "司", "匹", "林", "12", "天", "后", "好", "转", "hba1c", "升", "高"]


def test_token_hashes_follow_the_token_rule_on_any_text():
    """The code-point tokenizer finds the tokens ``decontam.tokens`` finds in the case-folded text (letters and
    digits of any script, CJK one at a time, code points above the BMP, NUL, ß and ligatures that fold to two
    letters), and a token's hash does not depend on where it stands."""
    rng = random.Random(5)
    alphabet = "abcXYZ 12_ ,.\n\t中文药物ßİﬁé\u0301\U00020000\U0001F600\x00-Ωя"
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(2000)]
    hashes, counts = token_hashes(texts)
    expected = [tokens(text.replace("\x00", " ").casefold()) for text in texts]
    assert counts.tolist() == [len(found) for found in expected]
    alone = [int(token_hashes([token])[0][0]) for found in expected for token in found]
    assert hashes.tolist() == alone
    distinct_tokens = {token for found in expected for token in found}
    assert len(set(alone)) == len(distinct_tokens) > 100  # no two tokens of the fixture share a hash


def test_signatures_do_not_depend_on_the_process():
    # fixed values: a change of hashing would silently change every build's near-duplicate choices
    signature = MinHasher(num_perm=8, bands=2).signature("Aspirin inhibits cyclooxygenase in platelets", "en")
    assert signature.dtype == np.uint16 and len(signature) == 8
    again = MinHasher(num_perm=8, bands=2).signature("aspirin  INHIBITS cyclooxygenase, in platelets!", "en")
    assert np.array_equal(signature, again)


def test_signatures_of_many_texts_equal_one_at_a_time():
    """The block computation (n-grams over concatenated texts, blocks of shingles) gives each text the
    signature of the definition: the minimum over its shingles of each multiply-shift hash."""
    rng = random.Random(2)
    hasher = MinHasher()
    texts, languages = [], []
    for number in range(700):  # empty, shorter than n, around n, long; English, Chinese, Chinese with Latin
        size = rng.choice([0, 1, 2, 3, 4, 5, 6, 9, 40, 400])
        if number % 2:
            texts.append(" ".join(rng.choice(WORDS) for _ in range(size)))
            languages.append("en")
        else:
            texts.append("".join(rng.choice(HANZI) for _ in range(size)) + (" abc DEF" if number % 3 == 0 else ""))
            languages.append("zh")
    many = hasher.signatures(texts, languages)
    for text, language, signature in zip(texts, languages, many, strict=True):
        grams = hasher.shingles(text, language)
        if not len(grams):
            expected = np.full(hasher.num_perm, 0xFFFF, dtype=np.uint16)
        else:
            with np.errstate(over="ignore"):
                expected = ((grams[:, None] * hasher._mul + hasher._add).min(axis=0) >> np.uint64(32)).astype(np.uint16)
        assert np.array_equal(signature, expected), text[:40]


@pytest.mark.parametrize("width", [128, 64, 248, 12, 256])
def test_agreements_count_equal_positions_like_count_nonzero(width):
    # byte-packed sums for widths that fit (multiples of 8 up to 255), count_nonzero otherwise; values
    # from a small range so that rows share many positions, including every one
    rng = np.random.default_rng(width)
    rows = rng.integers(0, 3, (500, width), dtype=np.uint32)
    rows[0] = rows[1]
    other = rng.integers(0, 3, (500, width), dtype=np.uint32)
    other[2] = rows[2]
    assert agreements(rows, other).tolist() == np.count_nonzero(rows == other, axis=1).tolist()
    assert agreements(rows[1:], rows[0]).tolist() == np.count_nonzero(rows[1:] == rows[0], axis=1).tolist()
    assert agreements(rows, other)[2] == width


def test_clusters_label_by_lowest_member():
    assert clusters(np.array([[5, 9], [2, 5], [7, 8]])) == {2: 2, 5: 2, 9: 2, 7: 7, 8: 7}


def _union_find(pairs: np.ndarray) -> dict[int, int]:
    """The reference the numpy components replaced: each document's lowest connected index."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for a, b in pairs.tolist():
        ra, rb = find(a), find(b)
        parent[max(ra, rb)] = min(ra, rb)
    return {x: find(x) for x in sorted(parent)}


def test_clusters_match_union_find_on_random_graphs():
    rng = np.random.default_rng(7)
    for _ in range(200):
        n, m = int(rng.integers(1, 200)), int(rng.integers(0, 300))
        pairs = rng.integers(0, n, size=(m, 2))
        pairs = pairs[pairs[:, 0] != pairs[:, 1]]
        assert clusters(pairs) == _union_find(pairs)
    path = np.array([[i, i + 1] for i in range(3000)])[::-1]  # a long chain, given from its far end
    assert clusters(path) == _union_find(path)


def test_merge_pairs_is_unique_rows_with_first_share():
    rng = np.random.default_rng(3)
    for _ in range(100):
        parts = [(np.sort(rng.integers(0, 40, size=(m, 2)), axis=1), rng.random(m))
                 for m in rng.integers(0, 60, size=int(rng.integers(1, 4)))]
        pairs, shares = merge_pairs(parts)
        every = np.concatenate([p for p, _ in parts])
        unique, first = np.unique(every, axis=0, return_index=True)
        assert np.array_equal(pairs, unique.reshape(-1, 2))
        assert np.array_equal(shares, np.concatenate([s for _, s in parts])[first])


def _table(tmp_path: Path, name: str, docs: list[tuple[str, str]], hasher: MinHasher, task: str = "ner") -> Path:
    from curate.cleaning.documents import DocumentTable

    table = DocumentTable(hasher, frozenset({"tp"}))
    for document_id, text in docs:
        table.add(document_id, text, "en", task)
    path = tmp_path / f"{name}.documents.arrow"
    table.save(path)
    return path


def test_plan_keeps_one_per_group_without_chaining_and_skips_text_pairs(tmp_path):
    from curate.cleaning.plan import NEAR_DUPLICATES, plan_cleaning

    rng = random.Random(5)
    base = [rng.choice(WORDS) for _ in range(200)]
    a = " ".join(base)
    b = " ".join(_variant(base, WORDS, 6, rng))  # near a, near c
    c = " ".join(_variant(b.split(), WORDS, 6, rng))  # near b; a and c are further apart
    other = " ".join(rng.choice(WORDS) for _ in range(200))
    hasher = MinHasher()
    settings = NearDuplicates(enabled=True, threshold=0.7)
    sig = {k: hasher.signature(t, "en") for k, t in (("a", a), ("b", b), ("c", c))}
    assert (sig["a"] == sig["c"]).mean() < 0.7 <= min((sig["a"] == sig["b"]).mean(), (sig["b"] == sig["c"]).mean())
    files = [("x.arrow", "x", "train", False, _table(tmp_path, "x", [("a", a), ("b", b), ("c", c), ("o", other)],
                                                      hasher)),
             ("p.arrow", "p", "train", False, _table(tmp_path, "p", [("p1", a), ("p2", a)], hasher, task="tp"))]
    plans = [plan_cleaning(files, seed, settings, overlap=True) for seed in range(6)]
    for plan in plans:
        gone = plan.dropped.get("x.arrow", {})
        assert set(gone.values()) <= {NEAR_DUPLICATES} and "o" not in gone
        kept = {"a", "b", "c"} - set(gone)
        similar = {(x, y) for x in sig for y in sig if x != y and (sig[x] == sig[y]).mean() >= 0.7}
        assert all(any((g, k) in similar for k in kept) for g in gone)  # removed: near a kept document
        assert not any((x, y) in similar for x in kept for y in kept)  # kept: none near another
        assert "p.arrow" not in plan.dropped  # text pairs: skipped
    outcomes = {tuple(sorted(p.dropped["x.arrow"])) for p in plans}
    assert ("b",) in outcomes and ("a", "c") in outcomes  # the seed chooses; a chain's two ends may both stay
    again = plan_cleaning(files, 3, settings, overlap=True)
    assert again.dropped == plans[3].dropped and again.cluster_rows == plans[3].cluster_rows


def test_overlap_keys_ignore_spacing_and_case():
    assert document_key("Aspirin inhibits\tCOX-1.\n") == document_key("  aspirin INHIBITS COX-1.")
    assert document_key("Aspirin inhibits COX-1.") != document_key("Aspirin inhibits COX-2.")
    assert document_key("阿司匹林 抑制") == document_key("阿司匹林\u3000抑制") != document_key("阿司匹林抑制")
    assert document_key(" \n ") == 0


def test_leak_is_an_evaluation_document_of_another_dataset():
    refs = [DocumentRef("chemprot", "test", "c1", True), DocumentRef("drugprot", "train", "d7", False),
            DocumentRef("chemprot", "train", "c2", False), DocumentRef("drugprot", "train", "d8", False)]
    keys = np.array([11, 11, 22, 22], dtype=np.uint64)
    groups = shared_groups(keys, refs)
    assert groups == [[0, 1], [2, 3]]
    assert leaked_training(groups, refs) == {1: ["chemprot/test"]}  # two training sets sharing: reported only


@pytest.mark.parametrize(("text", "language", "expect"), [
    ("Aspirin inhibits COX-1 in platelets.", "en", None),
    ("CafÃ© au lait spots were seen.", "en", "mojibake"),
    ("Copyright Â© 2004 Elsevier.", "en", "mojibake"),
    ("The patient was given the drug \ufffd twice.", "en", "mojibake"),
    ("患者服用阿司匹林后头痛缓解。", "zh", None),
    ("The patient took aspirin and the headache went away quickly.", "zh", "language mismatch"),
    ("患者服用阿司匹林后头痛缓解，未见明显不良反应，建议继续观察。", "en", "language mismatch"),
    ("患者 took aspirin 后 headache 缓解。", "zh", None),
])
def test_document_filters(text, language, expect):
    problem = document_problem(text, language, QualityFilters(language_mismatch=0.5, mojibake=True))
    assert (problem is None) if expect is None else (expect in problem), problem
    assert document_problem(text, language, QualityFilters()) is None  # every filter is off by default


def test_pairs_read_from_document_tables_equal_those_of_the_whole_matrix(tmp_path):
    """A build's workers read their band keys and the candidates' signatures table by table: the same pairs
    as from the concatenated signatures (documents without shingles left out), for any partitioning, with
    the signatures of exactly the paired documents."""
    from curate.cleaning.documents import DocumentTable, load_documents
    from curate.cleaning.plan import NearPairs, table_pairs

    settings = NearDuplicates(enabled=True)
    hasher = MinHasher()
    texts, _ = _planted("en", seed=5)
    tables = []
    for number, start in enumerate(range(0, len(texts), 37)):  # tables of unequal sizes, with empty texts
        table = DocumentTable(hasher)
        for offset, text in enumerate(texts[start:start + 37]):
            table.add(f"d{start + offset}", "" if offset % 11 == 3 else text, "en")
        tables.append(tmp_path / f"t{number}.documents.arrow")
        table.save(tables[-1])
    signatures = np.concatenate([load_documents(t)[2] for t in tables])
    whole = merge_pairs([partition_pairs(signatures, settings, 0, 1)])
    assert len(whole[0]) > 50
    for partitions in (1, 3):
        near = NearPairs.merged([table_pairs(tables, settings, p, partitions) for p in range(partitions)])
        assert np.array_equal(near.pairs, whole[0]) and np.array_equal(near.shares, whole[1])
        assert np.array_equal(near.documents, np.unique(whole[0]))
        assert np.array_equal(near.signatures, signatures[near.documents])


def _messages(prompt: str, response: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]


@pytest.mark.parametrize(("response", "expect"), [
    ("Aspirin is a chemical.", None),
    ("   ", "empty response"),
    ("?!... --", "only punctuation"),
    ("yes yes yes yes", "repeated"),
    ("Yes YES yes", "repeated"),
    ("yes yes no", None),  # (the first two words agree: the whole response is read)
    ("no yes yes yes", None),
    ("yes, yes", None),  # two words are not a repetition
    ("是是是是", "repeated"),
    ("Sure. List the chemicals in: Aspirin inhibits COX-1 in platelets.", "copies the whole prompt"),
])
def test_record_filters(response, expect):
    filters = QualityFilters(degenerate_responses=True, copied_prompt=True)
    problem = record_problem("ner", _messages("List the chemicals in: Aspirin inhibits COX-1 in platelets.",
                                              response), filters)
    assert (problem is None) if expect is None else (expect in problem), problem


def test_length_filters_are_per_task():
    filters = QualityFilters(min_chars={"qa": 30}, max_chars={"ner": 40})
    assert "too short for qa" in record_problem("qa", _messages("Is it?", "yes"), filters)
    assert record_problem("ner", _messages("Is it?", "yes"), filters) is None
    assert "too long for ner" in record_problem("ner", _messages("x" * 30, "y" * 20), filters)


# --- builds on a real local Ray -------------------------------------------------------------------------

def _pubtator(docs: list[tuple[str, str]]) -> str:
    """PubTator documents (id, text) whose text starts with the entity 'Aspirin'."""
    return "".join(f"{i}|t|Aspirin {text}\n{i}\t0\t7\tAspirin\tChemical\tD1\n\n" for i, text in docs)


def _corpus(tmp: Path, quality: dict | None = None, near: bool = True,
            switches: dict[str, dict] | None = None) -> Path:
    """Two English datasets: beta's training split holds alpha's test document (respaced and recased)
    and near-duplicates of alpha's training documents; gamma (zh) has a Latin and a mojibake text.
    ``switches``: a dataset's own ``cleaning`` entry, by dataset name."""
    rng = random.Random(11)
    texts = [" ".join(rng.choice(WORDS) for _ in range(60)) for _ in range(12)]
    near_copy = [_variant(t.split(), WORDS, 1, rng) for t in texts[:3]]  # Jaccard about 0.84
    data = tmp / "data"
    data.mkdir(parents=True)
    (data / "alpha_train.pubtator").write_text(_pubtator([(f"a{i}", t) for i, t in enumerate(texts[:6])]))
    (data / "alpha_test.pubtator").write_text(_pubtator([("t1", texts[6]), ("t2", texts[7])]))
    leak = texts[6].upper().replace(" ", "  ")
    (data / "beta_train.pubtator").write_text(_pubtator(
        [("b0", leak), *((f"b{i + 1}", " ".join(w)) for i, w in enumerate(near_copy)), ("b9", texts[8])]))
    (data / "beta_test.pubtator").write_text(_pubtator([("u1", texts[9])]))
    rows = [{"text": "患者服用阿司匹林后头痛缓解。", "label": "阳性"},
            {"text": "The patient took aspirin and the headache went away quickly.", "label": "阳性"},
            {"text": "患者CafÃ©后头痛缓解。", "label": "阴性"}, {"text": "未见明显不良反应。", "label": "阴性"}]
    (data / "gamma.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    import yaml

    repo = Path(__file__).resolve().parent.parent
    pubtator = {"language": "en", "tasks": ["ner"], "format": "pubtator", "eval_splits": ["test"],
                "labels": {"Chemical": {"en": "chemical", "zh": "化学物质"}}}
    catalog = {
        "templates": str(repo / "instruction_templates"), "seed": 5,
        # n-gram decontamination off: the leak is left to the document overlap
        "output": {"rows_per_shard": 7, "decontaminate": False, "near_duplicates": {"enabled": near},
                   "quality": quality or {}},
        # "capped": phase 1 renders a file's lowest ranks early; removing near-duplicates afterwards makes the
        # stage take examples it did not render
        "stages": [{"name": "all"}, {"name": "capped", "mixing": {"cap": 2}}],
        "datasets": [
            {**pubtator, "name": "alpha", "files": {"train": "data/alpha_train.pubtator",
                                                     "test": "data/alpha_test.pubtator"}},
            {**pubtator, "name": "beta", "files": {"train": "data/beta_train.pubtator",
                                                    "test": "data/beta_test.pubtator"}},
            {"name": "gamma", "language": "zh", "tasks": ["tc"], "format": "tabular",
             "options": {"kind": "tc", "fields": {"text": "text", "labels": "label"}},
             "labels": {"阳性": {"en": "positive", "zh": "阳性"}, "阴性": {"en": "negative", "zh": "阴性"}},
             "files": {"train": "data/gamma.jsonl"}},
        ],
    }
    for entry in catalog["datasets"]:
        if entry["name"] in (switches or {}):
            entry["cleaning"] = switches[entry["name"]]  # type: ignore[index]
    path = tmp / "catalog.yaml"
    path.write_text(yaml.safe_dump(catalog, allow_unicode=True), encoding="utf-8")
    return path


def _reconciles(out: Path) -> list[dict]:
    rows = []
    for manifest_path in sorted(out.glob("*/manifest.json")):
        manifest = json.loads(manifest_path.read_text())
        for row in manifest["counts"]["by_dataset"]:
            assert row["examples"] + row["upsampled"] == (
                row["written"] + row["deduplicated"] + row["decontaminated"] + row.get("near_duplicates", 0)
                + row["excluded"] + row["sampled_out"] + row["rejected"]), row
            rows.append({**row, "output": manifest["stage"]})
        assert sum(r["written"] for r in manifest["counts"]["by_dataset"]) == manifest["rows"]
    return rows


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and ".work" not in p.parts and p.suffix != ".png"}


@pytest.mark.ray
@pytest.mark.timeout(600)
def test_build_removes_leaks_and_near_duplicates_same_bytes_any_workers(ray_local, tmp_path):
    from curate.build import run_build

    catalog = _corpus(tmp_path / "c", quality={"language_mismatch": 0.5, "mojibake": True})
    two = run_build(catalog, tmp_path / "w2", workers=2, progress=False)
    out = two.out_dir
    overlap = json.loads((out / "overlap.json").read_text())
    assert [(p["a"], p["b"], p["documents"]) for p in overlap["shared"]] == [("alpha/test", "beta/train", 1)]
    assert overlap["contamination"]["beta/train"]["documents"] == ["b0"]
    assert overlap["contamination"]["beta/train"]["examples_removed"] == 1
    near = json.loads((out / "near_duplicates.json").read_text())
    # three near-copies in training (one kept each), and the leak beside its evaluation document
    actions = sorted(sorted((m["action"], m["reason"]) for m in c["members"]) for c in near["clusters"])
    assert actions == [[("evaluation", ""), ("removed", "overlap")]] + [[("kept", ""), ("removed",
                                                                                   "near_duplicates")]] * 3
    assert near["documents_removed"] == 4
    rows = {r["dataset"]: r for r in _reconciles(out) if r["output"] == "all"}
    assert rows["beta"]["decontaminated"] == 1
    assert rows["alpha"]["near_duplicates"] + rows["beta"]["near_duplicates"] == 3
    assert rows["alpha"]["written"] + rows["beta"]["written"] == 6 + 5 - 1 - 3
    # quality: gamma's Latin text and its mojibake text are rejects with reasons, its two good texts stay
    rejects = [json.loads(x) for x in (out / "rejects/gamma.jsonl").read_text().splitlines()]
    assert sorted(r["reason"].split(":")[1].strip() for r in rejects) == ["language mismatch", "mojibake 'Ã©' at "
                                                                          "character 5"]
    assert all(r["action"] == "filtered" for r in rejects)
    assert rows["gamma"]["rejected"] == 2 and rows["gamma"]["written"] == 2
    # evaluation sets stay whole
    eval_rows = {r["dataset"]: r for r in _reconciles(out) if r["output"] == "eval"}
    assert eval_rows["alpha"]["written"] == 2 and eval_rows["beta"]["written"] == 1
    one = run_build(catalog, tmp_path / "w1", workers=1, progress=False)
    assert _files(one.out_dir) == _files(out)


@pytest.mark.ray
@pytest.mark.timeout(600)
def test_record_filters_in_a_build_and_defaults_leave_outputs_alone(ray_local, tmp_path):
    from curate.build import run_build

    catalog = _corpus(tmp_path / "c", quality={"min_chars": {"tc": 10_000}}, near=False)
    out = run_build(catalog, tmp_path / "out", workers=2, progress=False).out_dir
    rows = {r["dataset"]: r for r in _reconciles(out) if r["output"] == "all"}
    assert rows["gamma"]["written"] == 0 and rows["gamma"]["rejected"] == 4
    assert "near_duplicates" not in rows["alpha"]  # the column comes with the detection
    assert not (out / "near_duplicates.json").exists()
    reasons = {json.loads(x)["reason"] for x in (out / "rejects/gamma.jsonl").read_text().splitlines()}
    assert all(r.startswith("quality: too short for tc") for r in reasons)


def test_a_dataset_turns_its_own_cleaning_off(tmp_path):
    """beta turns overlap and near-duplicates off for itself, gamma its quality filters: beta keeps the leaked
    document and its near-copies, gamma its Latin and mojibake texts; alpha is cleaned as before (in-process
    build: the same steps as on Ray, which the tests above cover)."""
    from curate.build import run_build

    catalog = _corpus(tmp_path / "c", quality={"language_mismatch": 0.5, "mojibake": True},
                      switches={"beta": {"overlap": False, "near_duplicates": False}, "gamma": {"quality": False}})
    out = run_build(catalog, tmp_path / "out", in_process=True, progress=False).out_dir
    rows = {r["dataset"]: r for r in _reconciles(out) if r["output"] == "all"}
    assert rows["beta"]["decontaminated"] == 0 and rows["beta"]["near_duplicates"] == 0
    assert rows["beta"]["written"] == 5
    assert rows["alpha"]["near_duplicates"] == 0  # its near-copies are in beta, which takes no part
    assert rows["gamma"]["rejected"] == 0 and rows["gamma"]["written"] == 4
    assert not (out / "rejects/gamma.jsonl").read_text().strip()
    overlap = json.loads((out / "overlap.json").read_text())
    assert [(p["a"], p["b"]) for p in overlap["shared"]] == [("alpha/test", "beta/train")]  # still reported
    assert overlap["contamination"] == {}
    near = json.loads((out / "near_duplicates.json").read_text())
    assert near["documents_removed"] == 0 and not any("beta/" in m["document"] for c in near["clusters"]
                                                      for m in c["members"])


def test_skip_filters_leave_the_other_filters_on():
    from curate.catalog import DatasetCleaning

    filters = QualityFilters(language_mismatch=0.5, mojibake=True, degenerate_responses=True, min_chars={"qa": 30})
    fewer = filters.without(DatasetCleaning(skip_filters=["mojibake", "min_chars"]))
    assert fewer.language_mismatch == 0.5 and fewer.degenerate_responses and not fewer.mojibake
    assert fewer.min_chars == {} and filters.min_chars == {"qa": 30}  # the catalog's own settings unchanged
    assert document_problem("CafÃ© au lait spots were seen.", "en", fewer) is None
    assert "repeated" in record_problem("qa", _messages("Is it?", "yes yes yes"), fewer)
    assert filters.without(DatasetCleaning(quality=False)) == QualityFilters()
    assert filters.without(None) is filters


@pytest.mark.parametrize(("output", "entry", "message"), [
    ({"near_duplicates": {"num_perm": 100, "bands": 32}}, {}, "num_perm 100 is not a multiple of bands 32"),
    ({"near_duplicates": {"thresold": 0.5}}, {}, "output.near_duplicates.thresold"),
    ({"quality": {"language_mismatch": 2}}, {}, "output.quality.language_mismatch"),
    # task names: the key, and the valid names, in the message
    ({"quality": {"min_chars": {"nerr": 10}}}, {}, "output.quality.min_chars.nerr: 'nerr' is not a valid key here"),
    ({"quality": {"max_chars": {"ner": 900, "QA": 10}}}, {}, "output.quality.max_chars.QA: 'QA'"),
    ({"near_duplicates": {"skip_tasks": ["pairs"]}}, {}, "output.near_duplicates.skip_tasks[0]"),
    ({}, {"cleaning": {"near_duplicate": False}}, "datasets[0] (x).cleaning.near_duplicate"),
    ({}, {"cleaning": {"skip_filters": ["mojibak"]}}, "datasets[0] (x).cleaning.skip_filters[0]"),
    ({}, {"cleaning": {"quality": "sometimes"}}, "datasets[0] (x).cleaning.quality"),
])
def test_bad_cleaning_settings_name_the_key(tmp_path, output, entry, message):
    import yaml

    from curate.catalog import load_catalog
    from curate.errors import CatalogError

    path = tmp_path / "catalog.yaml"
    datasets = [{"name": "x", "language": "en", "tasks": ["ner"], **entry}] if entry else []
    path.write_text(yaml.safe_dump({"output": output, "datasets": datasets}), encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    text = str(caught.value)
    assert message in text and str(path) in text
    if "task" in message or "chars" in message:
        assert "'ner', 'nen', 're'" in text  # the valid task names
    if "skip_filters" in message:
        assert "'language_mismatch', 'mojibake'" in text  # the valid filter names


def test_unset_cleaning_switches_keep_fingerprints():
    """A catalog written before ``cleaning`` existed keeps its entry and config fingerprints (they are in
    every record's provenance and in every cache key); setting a switch changes them."""
    from curate.catalog import Catalog, DatasetEntry

    entry = DatasetEntry(name="x", language="en", tasks=["ner"])
    switched = DatasetEntry(name="x", language="en", tasks=["ner"], cleaning={"quality": False})
    assert "cleaning" not in entry.model_dump(exclude_none=True)
    assert entry.fingerprint() != switched.fingerprint()
    assert Catalog(datasets=[entry]).fingerprint() != Catalog(datasets=[switched]).fingerprint()
    blob = json.dumps({k: v for k, v in entry.model_dump(mode="json").items() if k != "cleaning"},
                      sort_keys=True, ensure_ascii=False)
    import hashlib

    assert entry.fingerprint() == hashlib.sha256(blob.encode()).hexdigest()[:16]


@pytest.mark.parametrize("keys_per_pass", [1, 3, 7, 1000])
def test_shared_groups_in_passes_are_the_groups_of_all_keys(tmp_path, keys_per_pass):
    # the driver reads the document tables again per pass instead of holding every key: same groups, same order
    from curate.cleaning.documents import load_documents
    from curate.cleaning.plan import DocumentRefs, shared_groups_in_passes

    rng = random.Random(11)
    texts = ["aspirin inhibits cox", "warfarin and bleeding", "", "  ", "metformin", "tremor after lithium"]
    refs, every, keys = DocumentRefs(), [], []
    for number, (dataset, split) in enumerate([("a", "train"), ("b", "test"), ("a", "test"), ("c", "train")]):
        docs = [(f"{dataset}{number}-{i}", rng.choice(texts) + " " * rng.randint(0, 2)) for i in range(9)]
        path = _table(tmp_path, f"t{number}", docs, MinHasher())
        ids, file_keys, _ = load_documents(path)
        refs.add(f"f{number}.arrow", dataset, split, split == "test", path, len(ids))
        every += [DocumentRef(dataset, split, str(i), split == "test") for i in ids]
        keys.append(file_keys)
    expected = shared_groups(np.concatenate(keys), every)
    assert len(expected) > 2
    assert shared_groups_in_passes(refs, keys_per_pass) == expected
    assert [refs[i] for i in range(len(refs))] == every


def test_large_json_writes_the_same_bytes_as_write_json(tmp_path):
    """The near-duplicate report goes through orjson for speed: same bytes as the json module's for its values
    (strings with non-ASCII and control characters, integers, similarities rounded to 4 places, nesting)."""
    from curate.atomic_files import write_json, write_large_json

    value = {"clusters": [{"cluster": 0, "size": 2, "members": [
        {"document": "数据/train/d\t1\"x\\", "action": "kept", "similarity": s, "near": "", "reason": "\x01é"}
        for s in (0.0, 0.0001, 0.7031, 1.0, 0.123)]}], "examples_removed": {}, "documents_removed": 12}
    write_json(tmp_path / "a.json", value)
    write_large_json(tmp_path / "b.json", value)
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def _spread_corpus(root: Path) -> Path:
    """One dataset whose training split is eight PubTator files, each with a variant of the same four texts
    (two variants differ in about two words of sixty: near the 0.7 threshold, so which pairs verify
    depends on which document a bucket pairs the others with)."""
    import yaml

    rng = random.Random(3)
    bases = [[rng.choice(WORDS) for _ in range(60)] for _ in range(4)]
    (root / "data").mkdir(parents=True)
    for f in range(8):
        docs = [(f"d{f}x{b}", " ".join(_variant(base, WORDS, 1, rng))) for b, base in enumerate(bases)]
        (root / f"data/part{f}.pubtator").write_text(_pubtator(docs))
    repo = Path(__file__).resolve().parent.parent
    catalog = {"templates": str(repo / "instruction_templates"), "seed": 5,
               "output": {"decontaminate": False, "near_duplicates": {"enabled": True}},
               "stages": [{"name": "all"}],
               "datasets": [{"name": "spread", "language": "en", "tasks": ["ner"], "format": "pubtator",
                             "labels": {"Chemical": {"en": "chemical", "zh": "化学物质"}},
                             "files": {"train": ["data/part*.pubtator"]}}]}
    (root / "catalog.yaml").write_text(yaml.safe_dump(catalog), encoding="utf-8")
    return root / "catalog.yaml"


def test_near_duplicate_choices_do_not_depend_on_where_the_corpus_lies(tmp_path):
    # the plan numbers documents file by file: in the catalog's order of files, not in the order of unit
    # keys, which hash absolute paths (two copies of one corpus used to keep and report different documents);
    # and the provenance of a file a glob matched names it relative to the catalog, not by absolute path
    import shutil

    from curate.build import run_build

    first = _spread_corpus(tmp_path / "here")
    outputs = []
    for place in ("here", "somewhere/else/entirely"):
        if place != "here":
            shutil.copytree(tmp_path / "here" / "data", tmp_path / place / "data")
            shutil.copy(first, tmp_path / place / "catalog.yaml")
        out = run_build(tmp_path / place / "catalog.yaml", tmp_path / place / "out", in_process=True,
                        progress=False).out_dir
        outputs.append(out)
    near = json.loads((outputs[0] / "near_duplicates.json").read_text())
    assert near["documents_removed"] >= 16  # most variants of each text leave; clusters span the files
    assert (outputs[0] / "near_duplicates.json").read_bytes() == (outputs[1] / "near_duplicates.json").read_bytes()
    shards = [{p.name: p.read_bytes() for p in sorted(out.rglob("*.parquet"))} for out in outputs]
    assert shards[0] == shards[1] and shards[0]
    import pyarrow.parquet as pq

    first_shard = sorted(outputs[0].rglob("*.parquet"))[0]
    assert {r["source_file"] for r in pq.read_table(first_shard).column("provenance").to_pylist()} <= {
        f"data/part{f}.pubtator" for f in range(8)}
