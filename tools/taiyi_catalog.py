import re, yaml
md = open("/work/shared/reference/taiyi.md").read()
zh_part = md.split("#### Chinese (38)")[1].split("#### English (102)")[0]
en_part = md.split("#### English (102)")[1].split("Notable findings")[0]
TASK = {"NER": "ner", "NEN": "nen", "RE": "re", "CRE": "cre", "EE": "ee", "COREF": "coref", "TC": "tc", "MRD": "dialogue",
        "MT": "mt", "TP-ss": "tp", "TP-te": "tp", "TT-ds": "t2t", "TT-ts": "t2t"}
def tasks(label):
    out = []
    for t in re.split(r"[,/]", label):
        t = t.strip()
        m = "qa" if t.startswith("QA") else TASK[t]
        if m not in out: out.append(m)
    return out
def sizes(text):
    out = {}
    for part in text.split(";"):
        if ":" not in part: continue
        k, v = part.split(":", 1)
        k = k.strip().lower(); v = re.sub(r"[^0-9]", "", v)
        k = {"train": "train", "dev": "dev", "test": "test"}.get(k, k)
        if v: out[k] = int(v)
    return out
FORMAT = {
 "zh": {"CHIP-CDEE": "chip_cdee", "CMeEE-V2": "cmeee", "TCM-NER": "standoff", "CHIP-CDN": "tabular",
        "IMCS-V2-SR": "imcs", "IMCS-V2-NER": "imcs", "MEDQA": "tabular", "Chinese-medical-dialogue-data": "tabular",
        "CMeIE-V2": "cmeie", "CHIP-CTC": "tabular", "KUAKE-QIC": "tabular", "CHIP-MDCFNPC": "chip_mdcfnpc",
        "IMCS-V2-DAC": "imcs", "CHIP-STS": "tabular", "KUAKE-QQR": "tabular", "KUAKE-QTR": "tabular",
        "COVID_Similarity": "tabular", "IMCS-V2-MRG": "imcs"},
 "en": {"anat_em": "standoff", "chemdner": "bioc", "scai_disease": "conll", "tmvar_v1": "pubtator", "scai_chemical": "conll",
        "nlmchem": "bioc", "citation_gia_test_collection": "bioc", "tmvar_v2": "pubtator", "tmvar_v3": "pubtator",
        "cellfinder": "standoff", "progene": "conll", "gnormplus": "pubtator", "ncbi_disease": "pubtator", "nlm_gene": "bioc",
        "medmentions": "pubtator", "mediqa_qa": "mediqa_xml", "med_qa": "tabular", "medhop": "tabular", "sciq": "tabular",
        "bionlp_st_2011_rel": "standoff", "pubmed_qa": "pubmedqa", "genia_relation_corpus": "standoff",
        "bc7_litcovid": "tabular", "geokhoj_v1": "tabular", "gad": "tabular", "hallmarks_of_cancer": "hoc",
        "pubhealth": "tabular", "scicite": "tabular", "mqp": "tabular", "scitail": "tabular", "mediqa_rqe": "mediqa_xml",
        "bionlp_st_2011_epi": "standoff", "bionlp_st_2011_ge": "standoff", "bionlp_st_2013_cg": "standoff",
        "bionlp_st_2013_pc": "standoff", "bionlp_st_2011_id": "standoff", "genia_ptm_event_corpus": "standoff",
        "bionlp_shared_task_2009": "standoff", "bionlp_st_2013_ge": "standoff", "mlee": "standoff",
        "bionlp_st_2013_gro": "standoff", "pdr": "standoff", "ddi_corpus": "standoff", "chebi_nactem": "standoff",
        "chia": "standoff", "seth_corpus": "standoff", "verspoor_2013": "standoff", "bionlp_st_2019_bb": "standoff",
        "biored": "pubtator", "jnlpba": "conll", "n2c2_2018_track2": "standoff", "drugprot": "biocreative_tsv",
        "bc5cdr": "pubtator", "an_em": "standoff"},
}
LICENSE = {"ncbi_disease": "Public domain (NCBI/NLM United States Government Work)",
           "bc5cdr": "Public domain notice (NCBI United States Government Work); PubMed abstracts under NLM terms",
           "jnlpba": "GENIA Project License for Annotated Corpora", "bionlp_st_2013_cg": "CC BY-SA 3.0 (annotations)",
           "ddi_corpus": "CC BY-NC 4.0", "drugprot": "CC BY 4.0", "hallmarks_of_cancer": "GPL-3.0", "pubmed_qa": "MIT",
           "med_qa": "MIT", "medqa_zh": "MIT", "chinese_medical_dialogue_data": "MIT"}
CBLUE = {"chip_cdee", "cmeee_v2", "chip_cdn", "imcs_v2_sr", "imcs_v2_ner", "cmeie_v2", "chip_ctc", "kuake_qic",
         "chip_mdcfnpc", "imcs_v2_dac", "chip_sts", "kuake_qqr", "kuake_qtr", "kuake_ir", "imcs_v2_mrg", "cmedcausal"}
HOME = {"ncbi_disease": "https://www.ncbi.nlm.nih.gov/CBBresearch/Dogan/DISEASE/", "pubmed_qa": "https://pubmedqa.github.io",
        "med_qa": "https://github.com/jind11/MedQA", "medqa_zh": "https://github.com/jind11/MedQA",
        "ddi_corpus": "https://github.com/isegura/DDICorpus", "hallmarks_of_cancer": "https://github.com/sb895/Hallmarks-of-Cancer",
        "chinese_medical_dialogue_data": "https://github.com/Toyhom/Chinese-medical-dialogue-data",
        "mediqa_qa": "https://github.com/abachaa/MEDIQA2019", "mediqa_rqe": "https://github.com/abachaa/MEDIQA2019",
        "meddg": "https://github.com/lwgkzl/MedDG"}
RENAME = {("zh", "MEDQA"): "medqa_zh", ("zh", 36): "kuake_ir"}
MC = {"kind": "qa", "qa_type": "multiple_choice", "answer_is": "letter",
      "fields": {"question": "question", "choices": "options", "answer": "answer_idx"}}
OPTIONS = {
 "chip_cdn": {"kind": "tc", "multi_label": True, "label_separator": "##", "fields": {"text": "text", "labels": "normalized_result"}},
 "chip_ctc": {"kind": "tc", "id_field": "id", "fields": {"text": "text", "labels": "label"}},
 "kuake_qic": {"kind": "tc", "id_field": "id", "fields": {"text": "query", "labels": "label"}},
 "chip_sts": {"kind": "tp", "subtask": "ss", "id_field": "id", "fields": {"text_1": "text1", "text_2": "text2", "label": "label"}},
 "kuake_qqr": {"kind": "tp", "subtask": "ss", "id_field": "id", "unlabeled": "keep",
               "fields": {"text_1": "query1", "text_2": "query2", "label": "label"}},
 "kuake_qtr": {"kind": "tp", "subtask": "ss", "id_field": "id", "unlabeled": "keep",
               "fields": {"text_1": "query", "text_2": "title", "label": "label"}},
 "medqa_zh": MC, "med_qa": MC,
 "chinese_medical_dialogue_data": {"kind": "qa", "qa_type": "free", "encoding": "gb18030",
                                   "fields": {"question": "ask", "answer": "answer"}},
 "gad": {"kind": "tc", "file_format": "tsv", "header": "auto", "quoting": False, "columns": ["sentence", "label"],
         "fields": {"text": "sentence", "labels": "label"}},
 "jnlpba": {}, "imcs_v2_ner": {"view": "ner"}, "imcs_v2_sr": {"view": "ner"},
 "imcs_v2_dac": {"view": "dialogue_acts"}, "imcs_v2_mrg": {"view": "report"}, "pubmed_qa": {"ground_truth_file": "test_ground_truth.json"},
 "drugprot": {"abstracts_token": "abstracs"},
}
def norm(name):
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
entries = []
for lang, part in (("zh", zh_part), ("en", en_part)):
    for line in part.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 6 or not cells[0].isdigit():
            continue
        num, name, label, size, native, fi = int(cells[0]), cells[1], cells[2], cells[3], cells[4], cells[5]
        key = RENAME.get((lang, num)) or RENAME.get((lang, name)) or norm(name)
        status = re.search(r"\[(V|U)[^\]]*\]", native)
        native_clean = re.sub(r"\s*\[(V|U)[^\]]*\]", "", native).strip()
        e = {"name": key, "language": lang, "tasks": tasks(label)}
        fmt = None if key == "kuake_ir" else FORMAT[lang].get(name)
        if fmt == "tabular" and key not in OPTIONS:
            fmt = None  # a table needs its column mapping; we only write mappings we have verified
        if fmt: e["format"] = fmt
        if key in OPTIONS: e["options"] = OPTIONS[key]
        e["native_format"] = native_clean + (" (unverified upstream knowledge)" if status and status.group(1) == "U" else "")
        e["sizes"] = sizes(size)
        e["license"] = LICENSE.get(key) or ("CBLUE terms of use (research)" if key in CBLUE else "unknown")
        e["homepage"] = HOME.get(key) or ("https://github.com/CBLUEbenchmark/CBLUE" if key in CBLUE else "unknown")
        desc = f"Taiyi {lang} #{num} {name} ({label})."
        if fi != "—":
            desc += f" In Taiyi's final instruction data: {fi}."
        else:
            desc += " Not in Taiyi's final instruction data."
        if lang == "zh" and num == 36:
            desc = ("Taiyi zh #36, listed in Taiyi's dataset table as 'IMCS-V2-SR' (TP-ss), a duplicate name of zh #10. "
                    "Its sizes (100,000/1,000/3,000), CBLUE URL and the data-overview treemap (KUAKE-IR in the TP-ss "
                    "block) point to KUAKE-IR, so it is catalogued as kuake_ir (see shared/reference/taiyi.md 1.1). "
                    "Not in Taiyi's final instruction data.")
            e["native_format"] = "CBLUE KUAKE-IR: query and document TSV files (unverified upstream knowledge)"
        e["description"] = desc
        tags = ["taiyi", f"taiyi-{lang}"] + [f"task-{t}" for t in e["tasks"]]
        if fi != "—": tags.append("taiyi-final-data")
        if lang == "zh" and num == 36: tags.append("taiyi-name-imcs-v2-sr")
        e["tags"] = tags
        entries.append(e)
names = [e["name"] for e in entries]
assert len(names) == len(set(names)), [n for n in names if names.count(n) > 1]
assert len(entries) == 140 and sum(e["language"] == "en" for e in entries) == 102, len(entries)
header = """# All 140 source datasets of Taiyi (DUTIR-BioNLP, JAMIA 2024): 38 Chinese, 102 English, as listed in Taiyi's
# dataset table (shared/reference/taiyi.md section 1.2). Tasks are mapped from Taiyi's codes (NER->ner, NEN->nen,
# RE->re, CRE->cre, EE->ee, COREF->coref, TC->tc, QA-*->qa, MRD->dialogue, MT->mt, TP-ss/te->tp, TT-ds/ts->t2t);
# sizes are as published there (typos in the source table such as "1,1679" are read digit by digit).
# `format` names our reader where the native format belongs to a family curate reads; license and homepage say
# "unknown" where we have not verified them. The entries have no files: builds list them and skip them with a
# notice. To build one, copy the entry into a catalog, add `files:` and `options:` (docs/adding-a-dataset.md).
# Names are the Taiyi names in snake case; two are renamed: zh MEDQA -> medqa_zh (Chinese MCMLE part of MedQA,
# distinct from en med_qa) and zh #36 "IMCS-V2-SR" (TP-ss) -> kuake_ir (see its description).
"""
import os
os.makedirs("/work/wt-readers/catalogs", exist_ok=True)
open("/work/wt-readers/catalogs/taiyi.yaml", "w").write(header + yaml.safe_dump({"datasets": entries}, allow_unicode=True, sort_keys=False, width=110))
print(len(entries))
