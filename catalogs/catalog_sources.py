"""Write `source:` entries from the provenance that ../shared/datasets/*/SOURCE.md records.

    python catalogs/catalog_sources.py taiyi   # upstream sources (GitHub commit, path, blob) into catalogs/taiyi.yaml
    python catalogs/catalog_sources.py tests   # write tests/catalogs/shared_sources.yaml (sha256 of files as served)

SOURCE.md files name, per file or folder of a corpus, the GitHub repository, the commit read, the path in it and the
git blob (or tree) id. This script reads those facts; the catalogs it writes are plain YAML and are checked in.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("CURATE_SHARED", REPO.parent / "shared")) / "datasets"
TICK = r"`([^`]+)`"
HEX = r"`([0-9a-f]{40})`"
ARCHIVES = (".zip", ".tar.gz", ".tgz", ".tar")

# shared corpus folder -> Taiyi catalog name, where they differ (folders not listed keep their own name)
TAIYI_NAMES = {
    "bionlp_st2013_cg": "bionlp_st_2013_cg", "chinese_medical_dialogue": "chinese_medical_dialogue_data",
    "cmeee": "cmeee_v2", "cmeie": "cmeie_v2", "ddi": "ddi_corpus", "hoc": "hallmarks_of_cancer",
    "imcs21_dac": "imcs_v2_dac", "mediqa2019": "mediqa_qa", "medqa_usmle": "med_qa", "pubmedqa": "pubmed_qa",
}
# agreement-gated Taiyi corpora: where to apply (n2c2 data are released through the DBMI data portal)
N2C2_PORTAL = "https://portal.dbmi.hms.harvard.edu/"


# Taiyi corpora we do not hold: where their homepages (as BigBIO's loaders record them) publish the files. No
# checksum is known, so these sources are unverified; licenses and homepages are the loaders' too.
MMT = "https://github.com/chanzuckerberg/MedMentions/raw/master/"
HOMEPAGE_SOURCES: dict[str, dict[str, Any]] = {
    "scifact": {"homepage": "https://scifact.apps.allenai.org/", "license": "CC BY-NC 2.0 (per BigBIO)", "files": [
        {"url": "https://scifact.s3-us-west-2.amazonaws.com/release/latest/data.tar.gz", "members": ["data/*"],
         "strip": "data/", "local": "../data/scifact"}]},
    "biosses": {"homepage": "https://tabilab.cmpe.boun.edu.tr/BIOSSES/DataSet.html", "license": "GPL-3.0 (per BigBIO)",
                "files": [{"url": "hf://datasets/bigscience-biomedical/biosses/annotation_pairs_scores.tsv",
                           "local": "../data/biosses/annotation_pairs_scores.tsv"}]},
    "linnaeus": {"homepage": "http://linnaeus.sourceforge.net/", "license": "CC BY 4.0 (per BigBIO)", "files": [
        {"url": "https://sourceforge.net/projects/linnaeus/files/Corpora/manual-corpus-species-1.0.tar.gz/download",
         "members": ["manual-corpus-species-1.0/*"], "strip": "manual-corpus-species-1.0/",
         "local": "../data/linnaeus"}]},
    "nlmchem": {"homepage": "https://biocreative.bioinformatics.udel.edu/tasks/biocreative-vii/track-2",
                "license": "CC0 1.0 (per BigBIO)", "files": [
                    {"url": "https://ftp.ncbi.nlm.nih.gov/pub/lu/BC7-NLM-Chem-track/BC7T2-NLMChem-corpus_v2.BioC.xml.gz",
                     "members": ["*"], "local": "../data/nlmchem"}]},
    "biored": {"homepage": "https://ftp.ncbi.nlm.nih.gov/pub/lu/BioRED/",
               "license": "not stated (BigBIO: license information unavailable)", "files": [
                   {"url": "https://ftp.ncbi.nlm.nih.gov/pub/lu/BioRED/BIORED.zip", "members": ["BioRED/*"],
                    "strip": "BioRED/", "local": "../data/biored"}]},
    "medmentions": {"homepage": "https://github.com/chanzuckerberg/MedMentions", "license": "CC0 1.0 (per BigBIO)",
                    "files": [{"url": MMT + path, "local": "../data/medmentions/" + path.replace("/data/", "/")}
                              for path in ("full/data/corpus_pubtator.txt.gz", "st21pv/data/corpus_pubtator.txt.gz",
                                           "full/data/corpus_pubtator_pmids_trng.txt",
                                           "full/data/corpus_pubtator_pmids_dev.txt",
                                           "full/data/corpus_pubtator_pmids_test.txt")]},
}


@dataclass
class Upstream:
    """Where one local file or folder of a shared corpus comes from."""

    local: str  # relative to the corpus folder; folders end with '/'
    repo: str
    commit: str
    path: str
    blob: str | None = None
    tree: str | None = None


def parse_source_md(folder: Path) -> tuple[list[Upstream], dict[str, str]]:
    """The upstream of each file or folder that SOURCE.md names, and its header facts (license, repo)."""
    text = (folder / "SOURCE.md").read_text(encoding="utf-8")
    header: dict[str, str] = {}
    license_match = re.search(r"^- License: (.+)$", text, re.M)
    if license_match:
        header["license"] = license_match.group(1).strip()
    provenance = text.split("## Provenance", 1)[-1].split("## Files in this directory", 1)[0]
    sections = re.split(r"^### ", provenance, flags=re.M)
    top = sections[0]
    repo_match = re.search(r"repo: " + TICK, top)
    repo = repo_match.group(1) if repo_match else ""
    head = _commit(top) or ""
    found: list[Upstream] = []
    if repo:
        header["repo"] = repo
    for match in re.finditer(TICK + r" <- " + TICK + r"(?:\s*\((blob|tree) " + HEX + r")?", provenance):
        local, path, kind, digest = match.groups()
        found.append(Upstream(local, repo, head, path, digest if kind == "blob" else None,
                              digest if kind == "tree" else None))
    if len(sections) == 1:
        path_match = re.search(r"^- path: " + TICK, top, re.M)
        if path_match and path_match.group(1).endswith("/"):
            path = path_match.group(1)
            found.append(Upstream(Path(path).name + "/", repo, head, path))
    for section in sections[1:]:
        heading, _, body = section.partition("\n")
        local_match = re.match(TICK, heading)
        local = local_match.group(1) if local_match else ""  # "### source": an archive of the whole folder
        sec_repo_match = re.search(r"repo: " + TICK, body)
        sec_repo = sec_repo_match.group(1) if sec_repo_match else repo
        commit = _commit(body) or head
        repo, head = repo or sec_repo, head or commit  # later sections may rely on the first one's repository
        path_match = re.search(r"\bpath: " + TICK, body) or re.search(r"\(source " + TICK + r"\)", heading)
        if not path_match or not sec_repo or "<" in local:
            continue
        path = path_match.group(1)
        if not local:
            if path.endswith(ARCHIVES):
                blob = re.search(r"\bblob:? " + HEX, body)
                found.append(Upstream("", sec_repo, commit, path, blob=blob.group(1) if blob else None))
            continue
        if local.endswith("/"):
            tree = re.search(r"\(tree " + HEX, body)
            found.append(Upstream(local, sec_repo, commit, path, tree=tree.group(1) if tree else None))
            for child in re.finditer(r"^- " + TICK + r": blob " + HEX, body, re.M):
                found.append(Upstream(local + child.group(1), sec_repo, commit, path + child.group(1),
                                      blob=child.group(2)))
        else:
            blob = re.search(r"(?<!README )\bblob:? " + HEX, body)
            found.append(Upstream(local, sec_repo, commit, path, blob=blob.group(1) if blob else None))
    return found, header


def _commit(text: str) -> str | None:
    for key in ("read_at_commit", "snapshot_head"):
        match = re.search(key + r": " + HEX, text)
        if match:
            return match.group(1)
    return None


def upstream_of(rel: str, mappings: list[Upstream]) -> tuple[Upstream, str, str | None] | None:
    """(mapping, path in the repository, blob) of a file of the corpus folder; None when SOURCE.md does not say."""
    best: Upstream | None = None
    for mapping in mappings:
        matches = rel == mapping.local or (mapping.local.endswith("/") and rel.startswith(mapping.local))
        if matches and (best is None or len(mapping.local) > len(best.local)):
            best = mapping
    if best is None:
        return None
    if rel == best.local:
        return best, best.path, best.blob
    return best, best.path.rstrip("/") + "/" + rel[len(best.local):], None


def corpus_files(folder: Path) -> list[str]:
    """Every data file of a corpus folder (SOURCE.md excluded), relative, sorted."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != "SOURCE.md")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- catalogs/taiyi.yaml --------------------------------------------------------------------------------------


def taiyi_source(folder: Path) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The `source:` of a Taiyi entry from its shared corpus: one GitHub file per file SOURCE.md pins (upstream blob
    ids: the shared copies may be trimmed), one repository archive per folder, checked by the folder's git tree id
    (GitHub archives are not byte-stable, so no checksum of the archive itself is published)."""
    mappings, header = parse_source_md(folder)
    files: list[dict[str, Any]] = []
    for mapping in mappings:
        local = f"../data/{folder.name}/{mapping.local}".rstrip("/")
        if not mapping.local:  # the corpus as one archive in the repository: unpacked whole into the folder
            files.append({"github": mapping.repo, "commit": mapping.commit, "path": mapping.path,
                          "git_blob": mapping.blob, "members": ["*"], "local": local}
                         if mapping.blob else
                         {"github": mapping.repo, "commit": mapping.commit, "path": mapping.path,
                          "members": ["*"], "local": local, "unverified": True})
        elif mapping.local.endswith("/"):
            if any(m.local.startswith(mapping.local) and m is not mapping for m in mappings):
                continue  # its files are listed one by one
            name = mapping.repo.split("/")[1]
            prefix = f"{name}-{mapping.commit}/{mapping.path.rstrip('/')}/"
            checksum = {"git_tree": mapping.tree} if mapping.tree else {"unverified": True}
            files.append({"url": f"https://codeload.github.com/{mapping.repo}/tar.gz/{mapping.commit}",
                          "members": [prefix + "*"], "strip": prefix, "local": local, **checksum})
        elif mapping.blob:
            files.append({"github": mapping.repo, "commit": mapping.commit, "path": mapping.path,
                          "git_blob": mapping.blob, "local": local})
        else:
            files.append({"github": mapping.repo, "commit": mapping.commit, "path": mapping.path, "local": local,
                          "unverified": True})
    return ({"files": files} if files else None), header


def patch_taiyi(path: Path) -> None:
    """Insert `source:` blocks (and license/homepage where "unknown") into the Taiyi catalog, text otherwise kept."""
    text = path.read_text(encoding="utf-8")
    entries = re.split(r"(?m)^(?=- name: )", text)
    by_name = {TAIYI_NAMES.get(folder.name, folder.name): folder for folder in sorted(SHARED.iterdir())
               if (folder / "SOURCE.md").exists()}
    out: list[str] = []
    for entry in entries:
        name_match = re.match(r"- name: (\S+)\n", entry)
        if name_match is None or re.search(r"(?m)^  source:", entry):
            out.append(entry)
            continue
        name = name_match.group(1)
        block: dict[str, Any] | None = None
        if name in by_name:
            block, header = taiyi_source(by_name[name])
            if header.get("license"):
                entry = re.sub(r"(?m)^  license: unknown\n", _yaml_line("license", header["license"]), entry)
            if header.get("repo"):
                entry = re.sub(r"(?m)^  homepage: unknown\n",
                               _yaml_line("homepage", f"https://github.com/{header['repo']}"), entry)
        elif name in HOMEPAGE_SOURCES:
            known = HOMEPAGE_SOURCES[name]
            block = {"unverified": True, "files": known["files"]}
            entry = re.sub(r"(?m)^  license: unknown\n", _yaml_line("license", known["license"]), entry)
            entry = re.sub(r"(?m)^  homepage: unknown\n", _yaml_line("homepage", known["homepage"]), entry)
        elif name.startswith("n2c2_"):
            block = {"agreement": {"name": "n2c2 data use agreement", "apply_at": N2C2_PORTAL}, "files": []}
            entry = re.sub(r"(?m)^  license: unknown\n",
                           _yaml_line("license", "n2c2 data use agreement (DBMI data portal)"), entry)
            entry = re.sub(r"(?m)^  homepage: unknown\n", _yaml_line("homepage", N2C2_PORTAL), entry)
        if block:
            dumped = yaml.safe_dump({"source": block}, sort_keys=False, allow_unicode=True, width=120)
            entry = entry.rstrip("\n") + "\n" + "".join("  " + line + "\n" for line in dumped.splitlines())
        out.append(entry)
    path.write_text("".join(out), encoding="utf-8")


def _yaml_line(key: str, value: str) -> str:
    return "".join("  " + line + "\n" for line in yaml.safe_dump({key: value}, allow_unicode=True,
                                                                  width=120).splitlines())


# --- tests/catalogs/shared_sources.yaml -------------------------------------------------------------------------

SKIPPED_IN_TESTS: tuple[str, ...] = ()  # corpus folders left out of the test catalog
TEST_HOST = "https://curate-shared.test/datasets/"  # for files SOURCE.md does not pin to a repository path


def write_test_catalog(shared_catalog: Path, out: Path) -> None:
    """The shared test catalog's corpora (but SKIPPED_IN_TESTS) with sources: upstream URLs where SOURCE.md pins
    them, sha256 and size of the files as served from ../shared/datasets, and files: under data/ next to it."""
    catalog = yaml.safe_load(shared_catalog.read_text(encoding="utf-8"))
    rel_shared = "../../../shared/datasets/"
    datasets = []
    for entry in catalog["datasets"]:
        folders = sorted({f.split(rel_shared, 1)[1].split("/", 1)[0]
                          for files in entry.get("files", {}).values()
                          for f in ([files] if isinstance(files, str) else files)})
        if not folders or set(folders) & set(SKIPPED_IN_TESTS):
            continue
        entry["files"] = {split: ([f.replace(rel_shared, "data/") for f in files] if isinstance(files, list)
                                  else files.replace(rel_shared, "data/"))
                          for split, files in entry["files"].items()}
        sources = []
        for name in folders:
            folder = SHARED / name
            mappings, _ = parse_source_md(folder)
            for rel in corpus_files(folder):
                found = upstream_of(rel, mappings)
                if found is not None and found[0].repo and found[0].commit:
                    url = f"https://raw.githubusercontent.com/{found[0].repo}/{found[0].commit}/{found[1]}"
                else:
                    url = TEST_HOST + f"{name}/{rel}"
                served = folder / rel
                sources.append({"url": url, "sha256": _sha256(served), "size": served.stat().st_size,
                                "local": f"data/{name}/{rel}"})
        shared_url: dict[str, set[str]] = {}
        for source in sources:
            shared_url.setdefault(source["url"], set()).add(source["sha256"])
        for source in sources:  # several members of one upstream archive (SOURCE.md archive_member): no file URL
            if len(shared_url[source["url"]]) > 1:
                source["url"] = TEST_HOST + source["local"].removeprefix("data/")
        entry["source"] = {"files": sources}
        datasets.append(entry)
    left_out = f" (less {', '.join(SKIPPED_IN_TESTS)})" if SKIPPED_IN_TESTS else ""
    header = ("# Test catalog for `curate fetch`: the corpora of tests/catalogs/shared.yaml" + left_out
              + "\n# with sources. URLs are the upstream ones SOURCE.md pins (else "
              + TEST_HOST + "...); sha256 and size are those of\n# the files as served from ../shared/datasets "
              "(many are trimmed copies). files: point under data/ beside the catalog, where\n# `curate fetch` "
              "links them. Written by catalogs/catalog_sources.py tests; the tests serve ../shared/datasets as\n"
              "# a mirror of these URLs on 127.0.0.1.\n")
    body = {key: catalog[key] for key in ("version", "templates", "seed", "output", "stages") if key in catalog}
    body["datasets"] = datasets
    text = yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=120)
    out.write_text(header + _flow_source_files(text), encoding="utf-8")


def _flow_source_files(text: str) -> str:
    """One line per source file (`- {url: ..., sha256: ..., size: ..., local: ...}`): 1,600 files stay readable."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        if line.strip() == "files:" and out[-2:-1] and out[-2].strip() == "source:":
            indent = line[:len(line) - len(line.lstrip())]
            while i < len(lines) and lines[i].startswith(indent + "- url: "):
                block = [lines[i]]
                i += 1
                while i < len(lines) and lines[i].startswith(indent + "  ") and not lines[i].startswith(indent + "- "):
                    block.append(lines[i])
                    i += 1
                item = yaml.safe_load("\n".join(b[len(indent):] for b in block))[0]
                dumped = yaml.safe_dump(item, default_flow_style=True, allow_unicode=True, width=10_000,
                                        sort_keys=False).strip()
                out.append(f"{indent}- {dumped}")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    if argv[1:] == ["taiyi"]:
        patch_taiyi(REPO / "catalogs" / "taiyi.yaml")
    elif argv[1:] == ["tests"]:
        write_test_catalog(REPO / "tests" / "catalogs" / "shared.yaml", REPO / "tests" / "catalogs" /
                           "shared_sources.yaml")
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
