"""Write the bundled demo corpora: small, synthetic, in native formats (PubTator, CBLUE JSON, JSONL, CSV).

Everything here is invented from word lists, so offsets are exact by construction and no real
corpus is copied. Run ``python demo/make_demo_data.py`` to regenerate ``demo/data``; the output is
deterministic (fixed seed) and checked in.
"""

from __future__ import annotations

import csv
import json
import random
import zlib
from pathlib import Path

OUT = Path(__file__).parent / "data"

EN_CHEMICALS = ["valproate", "lithium", "cisplatin", "haloperidol", "amiodarone", "metformin", "warfarin",
                "doxorubicin", "isoniazid", "gentamicin", "propofol", "carbamazepine"]
EN_DISEASES = ["hepatotoxicity", "tremor", "nephrotoxicity", "dystonia", "pulmonary fibrosis",
               "lactic acidosis", "bleeding", "cardiomyopathy", "peripheral neuropathy", "hearing loss",
               "hypotension", "rash"]
EN_TEMPLATES = [
    "{c} use was followed by {d} in a cohort of adult patients.",
    "We report a case of {d} that developed after treatment with {c}.",
    "Withdrawal of {c} led to gradual recovery from {d}.",
    "The incidence of {d} rose with higher doses of {c}.",
]
EN_FILLER = ["Serum levels were measured weekly.", "No other medication was changed during follow-up.",
             "Symptoms resolved within two months.", "Baseline laboratory values were normal."]

ZH_DRUGS = ["阿司匹林", "布洛芬", "青霉素", "胰岛素", "二甲双胍", "头孢曲松", "奥美拉唑", "氨氯地平"]
ZH_DISEASES = ["高血压", "糖尿病", "肺炎", "胃溃疡", "冠心病", "支气管炎", "痛风", "偏头痛"]
ZH_SYMPTOMS = ["头痛", "发热", "咳嗽", "腹痛", "恶心", "乏力", "胸闷", "皮疹"]
ZH_BODY = ["胃", "肺", "肝脏", "心脏", "皮肤", "关节"]


def pubtator_en(rng: random.Random, n: int, start_pmid: int) -> str:
    blocks = []
    for i in range(n):
        pmid = str(start_pmid + i)
        c1, c2 = rng.sample(EN_CHEMICALS, 2)
        d1, d2 = rng.sample(EN_DISEASES, 2)
        title = rng.choice(EN_TEMPLATES).format(c=c1, d=d1)
        title = title[0].upper() + title[1:]
        sentences = [rng.choice(EN_TEMPLATES).format(c=c2, d=d2), rng.choice(EN_FILLER),
                     f"Patients given {c1} were also screened for {d2}."]
        abstract = " ".join(s[0].upper() + s[1:] for s in sentences)
        text = title + " " + abstract
        lines = [f"{pmid}|t|{title}", f"{pmid}|a|{abstract}"]
        concepts = {}
        for mention, etype in ((c1.capitalize(), "Chemical"), (c1, "Chemical"), (c2, "Chemical"), (d1, "Disease"),
                               (d2, "Disease"), (c2.capitalize(), "Chemical")):
            concept = concepts.setdefault(mention.lower(), f"D{zlib.crc32(mention.lower().encode()) % 900000 + 100000:06d}")
            start = 0
            while (pos := text.find(mention, start)) != -1:
                before = text[pos - 1] if pos else " "
                after = text[pos + len(mention)] if pos + len(mention) < len(text) else " "
                if not before.isalnum() and not after.isalnum():
                    lines.append(f"{pmid}\t{pos}\t{pos + len(mention)}\t{mention}\t{etype}\t{concept}")
                start = pos + len(mention)
        mention_lines = sorted(set(lines[2:]), key=lambda line: int(line.split("\t")[1]))
        lines = lines[:2] + mention_lines
        lines.append(f"{pmid}\tCID\t{concepts[c1.lower()]}\t{concepts[d1]}")
        if rng.random() < 0.6:
            lines.append(f"{pmid}\tCID\t{concepts[c2.lower()]}\t{concepts[d2]}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n\n"


def pubtator_zh(rng: random.Random, n: int, start_id: int) -> str:
    """Chinese documents in PubTator layout: drug-treats-disease and disease-causes-symptom."""
    blocks = []
    for i in range(n):
        doc_id = f"ZH{start_id + i}"
        drug, disease, symptom = rng.choice(ZH_DRUGS), rng.choice(ZH_DISEASES), rng.choice(ZH_SYMPTOMS)
        title = f"{drug}治疗{disease}的临床观察"
        abstract = rng.choice([
            f"患者因{disease}入院，主要表现为{symptom}。给予{drug}后症状明显缓解。",
            f"{disease}常伴有{symptom}，本研究评估{drug}的疗效与安全性。",
            f"在{disease}患者中，{drug}可减轻{symptom}，且不良反应较少。",
        ])
        text = title + " " + abstract
        lines = [f"{doc_id}|t|{title}", f"{doc_id}|a|{abstract}"]
        ids = {drug: f"DRUG:{ZH_DRUGS.index(drug)}", disease: f"DIS:{ZH_DISEASES.index(disease)}",
               symptom: f"SYM:{ZH_SYMPTOMS.index(symptom)}"}
        for mention, etype in ((drug, "drug"), (disease, "disease"), (symptom, "symptom")):
            start = 0
            while (pos := text.find(mention, start)) != -1:
                lines.append(f"{doc_id}\t{pos}\t{pos + len(mention)}\t{mention}\t{etype}\t{ids[mention]}")
                start = pos + len(mention)
        head, tail = lines[:2], sorted(lines[2:], key=lambda line: int(line.split("\t")[1]))
        lines = head + tail
        lines.append(f"{doc_id}\ttreats\t{ids[drug]}\t{ids[disease]}")
        lines.append(f"{doc_id}\tcauses\t{ids[disease]}\t{ids[symptom]}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def cmeee(rng: random.Random, n: int) -> list[dict]:
    records = []
    for _ in range(n):
        disease, symptom, body, drug = (rng.choice(ZH_DISEASES), rng.choice(ZH_SYMPTOMS), rng.choice(ZH_BODY),
                                        rng.choice(ZH_DRUGS))
        pattern = rng.choice([
            ("{dis}患者常出现{sym}，需检查{bod}功能。", ("dis", "sym", "bod")),
            ("{bod}受累时可引起{sym}，可用{dru}对症处理。", ("bod", "sym", "dru")),
            ("长期服用{dru}可能加重{dis}。", ("dru", "dis")),
        ])
        values = {"dis": disease, "sym": symptom, "bod": body, "dru": drug}
        text = pattern[0].format(**values)
        entities = []
        for etype in pattern[1]:
            mention = values[etype]
            pos = text.find(mention)
            entities.append({"start_idx": pos, "end_idx": pos + len(mention), "type": etype, "entity": mention})
        records.append({"text": text, "entities": entities})
    return records


EN_TOPICS = {
    "treatment": ["A randomized trial compared {c} with placebo for {d}.", "Dose adjustment of {c} improved {d}."],
    "diagnosis": ["Imaging criteria for {d} were evaluated in 200 patients.", "A blood marker predicted {d} early."],
    "prevention": ["Vaccination campaigns reduced the spread of {d}.", "Screening programs aimed to prevent {d}."],
    "mechanism": ["{c} binds a membrane channel, which may explain {d}.", "Oxidative stress links {c} to {d}."],
}
ZH_INTENTS = {
    "病情诊断": ["{sym}是什么病？", "经常{sym}是不是{dis}？"],
    "治疗方案": ["{dis}怎么治疗效果好？", "{dis}吃什么药？"],
    "注意事项": ["{dis}患者饮食要注意什么？", "服用{dru}期间能喝酒吗？"],
    "功效作用": ["{dru}有什么作用？", "{dru}能治{sym}吗？"],
}


def main() -> None:
    rng = random.Random(20261124)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "cdr_en_train.pubtator").write_text(pubtator_en(rng, 14, 91000100), encoding="utf-8")
    (OUT / "cdr_en_test.pubtator").write_text(pubtator_en(rng, 5, 91000900), encoding="utf-8")
    (OUT / "drug_rel_zh_train.pubtator").write_text(pubtator_zh(rng, 12, 100), encoding="utf-8")
    (OUT / "drug_rel_zh_test.pubtator").write_text(pubtator_zh(rng, 4, 900), encoding="utf-8")
    for split, n in (("train", 14), ("dev", 5)):
        (OUT / f"cmeee_demo_{split}.json").write_text(json.dumps(cmeee(rng, n), ensure_ascii=False, indent=2),
                                                       encoding="utf-8")
    for split, n in (("train", 16), ("test", 6)):
        with open(OUT / f"topics_en_{split}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["pmid", "abstract", "topics"])
            for i in range(n):
                labels = sorted(rng.sample(sorted(EN_TOPICS), rng.choice([1, 1, 2])))
                text = " ".join(rng.choice(EN_TOPICS[lab]).format(c=rng.choice(EN_CHEMICALS),
                                                                    d=rng.choice(EN_DISEASES)) for lab in labels)
                writer.writerow([f"{split}{i}", text[0].upper() + text[1:], ";".join(labels)])
    for split, n in (("train", 16), ("dev", 6)):
        rows = []
        for i in range(n):
            label = rng.choice(sorted(ZH_INTENTS))
            query = rng.choice(ZH_INTENTS[label]).format(sym=rng.choice(ZH_SYMPTOMS), dis=rng.choice(ZH_DISEASES),
                                                         dru=rng.choice(ZH_DRUGS))
            rows.append({"id": f"q{split}{i}", "query": query, "label": label})
        (OUT / f"intent_zh_{split}.json").write_text(json.dumps(rows, ensure_ascii=False, indent=2), encoding="utf-8")
    for split, n in (("train", 12), ("dev", 4)):
        rows = []
        for i in range(n):
            dis = rng.choice(ZH_DISEASES)
            kind = rng.choice(["0", "1", "2"])
            q1 = f"{dis}有哪些症状？"
            q2 = {"2": f"{dis}的症状有哪些？", "1": f"{dis}早期有什么症状？", "0": f"{dis}能治愈吗？"}[kind]
            rows.append({"id": f"p{split}{i}", "query1": q1, "query2": q2, "label": kind})
        (OUT / f"qqr_zh_{split}.json").write_text(json.dumps(rows, ensure_ascii=False, indent=2), encoding="utf-8")
    en_mc = [
        ("Which drug is a first-line oral therapy for type 2 diabetes?", ["metformin", "warfarin", "haloperidol",
                                                                           "isoniazid"], "A"),
        ("Which adverse effect is typical of aminoglycosides such as gentamicin?", ["rash", "hearing loss",
                                                                                    "bleeding", "tremor"], "B"),
        ("Which anticoagulant requires INR monitoring?", ["metformin", "lithium", "warfarin", "propofol"], "C"),
        ("Which drug is used to treat tuberculosis?", ["amiodarone", "propofol", "cisplatin", "isoniazid"], "D"),
        ("Which agent is an intravenous anaesthetic?", ["propofol", "valproate", "lithium", "metformin"], "A"),
        ("Which drug can cause pulmonary fibrosis?", ["metformin", "amiodarone", "propofol", "isoniazid"], "B"),
        ("Which mood stabilizer has a narrow therapeutic index?", ["propofol", "warfarin", "lithium", "cisplatin"],
         "C"),
        ("Which chemotherapy drug is known for nephrotoxicity?", ["lithium", "propofol", "metformin", "cisplatin"],
         "D"),
        ("Which antiepileptic drug can cause hepatotoxicity in children?", ["valproate", "gentamicin", "propofol",
                                                                            "warfarin"], "A"),
        ("Which antipsychotic often causes acute dystonia?", ["metformin", "haloperidol", "isoniazid", "lithium"],
         "B"),
        ("Which anthracycline can cause cardiomyopathy?", ["warfarin", "valproate", "doxorubicin", "propofol"], "C"),
    ]
    zh_mc = [
        ("治疗2型糖尿病的一线口服药物是？", ["二甲双胍", "青霉素", "奥美拉唑", "布洛芬"], "A"),
        ("下列哪种药物属于质子泵抑制剂？", ["阿司匹林", "奥美拉唑", "胰岛素", "青霉素"], "B"),
        ("1型糖尿病患者必须使用的药物是？", ["布洛芬", "头孢曲松", "胰岛素", "氨氯地平"], "C"),
        ("下列哪种药物常用于降压？", ["青霉素", "奥美拉唑", "布洛芬", "氨氯地平"], "D"),
        ("长期服用可能引起胃溃疡的药物是？", ["阿司匹林", "胰岛素", "二甲双胍", "氨氯地平"], "A"),
        ("社区获得性肺炎常用的抗生素是？", ["胰岛素", "头孢曲松", "二甲双胍", "奥美拉唑"], "B"),
        ("痛风急性发作时可用于止痛的药物是？", ["胰岛素", "二甲双胍", "布洛芬", "青霉素"], "C"),
        ("对青霉素过敏的患者应避免使用？", ["布洛芬", "二甲双胍", "胰岛素", "青霉素"], "D"),
        ("冠心病二级预防常用的抗血小板药物是？", ["阿司匹林", "青霉素", "胰岛素", "奥美拉唑"], "A"),
        ("下列哪项是肺炎的常见症状？", ["皮疹", "咳嗽", "关节畸形", "视力下降"], "B"),
        ("偏头痛发作时最典型的表现是？", ["腹泻", "皮疹", "头痛", "关节痛"], "C"),
    ]
    for name, items in (("medqa_en", en_mc), ("medqa_zh", zh_mc)):
        for split, part in (("train", items[:8]), ("test", items[8:])):
            with open(OUT / f"{name}_{split}.jsonl", "w", encoding="utf-8") as handle:
                for i, (question, options, answer) in enumerate(part):
                    record = {"qid": f"{name}-{split}-{i}", "question": question,
                              "options": dict(zip("ABCD", options, strict=True)), "answer_idx": answer}
                    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    yes_no = [
        ("Does stopping the drug reverse the tremor?", "Tremor improved in 18 of 20 patients within a month of "
         "stopping the drug.", "yes"),
        ("Is the rash linked to the vaccine?", "Rash rates were the same in the vaccine and placebo groups.", "no"),
        ("Does the marker predict relapse?", "The marker was higher before relapse, but the study was too small "
         "to be sure.", "maybe"),
        ("Does dose reduction lower bleeding risk?", "Bleeding fell from 9% to 3% after the dose was reduced.",
         "yes"),
        ("Is hearing loss reversible after gentamicin?", "Hearing did not recover in any patient after the drug "
         "was stopped.", "no"),
        ("Does early imaging change outcomes?", "Early imaging found more cases, but survival was similar; the "
         "effect on outcomes is unclear.", "maybe"),
        ("Does metformin lower HbA1c in this trial?", "HbA1c fell by 1.1 points on metformin versus placebo.",
         "yes"),
        ("Is the new test better than the old one?", "Both tests had the same sensitivity and specificity.", "no"),
    ]
    for split, part in (("train", yes_no[:6]), ("test", yes_no[6:])):
        with open(OUT / f"yesno_en_{split}.jsonl", "w", encoding="utf-8") as handle:
            for i, (question, context, answer) in enumerate(part):
                handle.write(json.dumps({"id": f"yn-{split}-{i}", "question": question, "context": context,
                                         "final_decision": answer}) + "\n")


if __name__ == "__main__":
    main()
