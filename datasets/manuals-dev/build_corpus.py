"""Rebuild this dataset's corpus from the Debian packages its manuals come from (corpus.jsonl.gz).

Downloads each package at its pinned version with `apt-get download` (a Debian or Ubuntu machine that has run
`apt-get update`), checks the .deb's sha256, unpacks it with `dpkg -x`, and reads every page of each manual
with vtrag's own PDF text-layer extraction (`indexer.page_text.extract_text`, no OCR). A page becomes one
corpus record `{"id": "<manual>-p<NNN>", "title": "", "text", "manual", "page"}`; pages with fewer than
MIN_CHARS letters or digits (blank and picture-only pages) are left out. The same package versions and the
same locked PyMuPDF give the same records.

    .venv/bin/python datasets/manuals-dev/build_corpus.py                   # writes corpus.jsonl.gz here
    .venv/bin/python datasets/manuals-dev/build_corpus.py --pdfs-only DIR   # just the PDFs, e.g. to index

The questions (queries.jsonl, qrels.tsv, answers.jsonl) were written by reading these pages.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MIN_CHARS = 20

# package, version, sha256 of the .deb
PACKAGES = {
    "asymptote-doc": ("2.85+ds-1", "b2ae6e97c64ede66c1e41cc913f790b01188d198557203a2b3c500ba3495e6ca"),
    "bash-doc": ("5.2.15-2", "2c1a353f7004d14ba81db19c253b958d2dd9582027650739c530fd50376a9d8b"),
    "dblatex-doc": ("0.3.12py3-2", "d5071654a04581ea023604cb2705ef71d13677a054023616ae9a8172a67f92f4"),
    "debmake-doc": ("1.17-7", "f562cf744d906b9255c60d659873609ed5f40d657d99c4a6f3f5c194c24507cf"),
    "graphviz-doc": ("2.42.2-7+deb12u1", "7239f310587c7ae772bdb3775eeddb2bd82a2c2c3c4326578b906a667c439474"),
    "lilypond-doc-pdf": ("2.24.1-2", "caf7a8b1a7936abf59e6e1f5e20342fc50ce867ea7cd67dd8228665c4f70e5a1"),
    "maxima-doc": ("5.46.0-11", "01a726b693a7e465a62040ac5ade4762194d7553524231d77cd1fcd4a69a75b9"),
    "pari-doc": ("2.15.2-1", "6806e4ab123811d7234dd3330941a0ab777562708109ccbce7fc8907226deddc"),
    "texlive-metapost-doc": (
        "2022.20230122-3",
        "72dfff342c161c075a9f20369cc9a06fa82fa767e439503329e8b1ccd8f40c78",
    ),
    "zsh-doc": ("5.9-4", "79bd75df4bf03d1021e993fd773f82b8a4c8d76649e420cd32eca940cf418ff4"),
}

# manual id, package, path inside the package (.gz: gunzipped first)
MANUALS = [
    ("asymptote", "asymptote-doc", "usr/share/doc/asymptote/asymptote.pdf"),
    ("bashref", "bash-doc", "usr/share/doc/bash/bashref.pdf"),
    ("dblatex", "dblatex-doc", "usr/share/doc/dblatex/manual.pdf.gz"),
    ("debmake", "debmake-doc", "usr/share/doc/debmake-doc/debmake-doc.en.pdf"),
    ("dotguide", "graphviz-doc", "usr/share/doc/graphviz/pdf/dotguide.pdf.gz"),
    ("libguide", "graphviz-doc", "usr/share/doc/graphviz/pdf/libguide.pdf.gz"),
    ("lilypond-learning", "lilypond-doc-pdf", "usr/share/doc/lilypond/html/Documentation/learning.pdf"),
    ("lilypond-usage", "lilypond-doc-pdf", "usr/share/doc/lilypond/html/Documentation/usage.pdf"),
    ("lilypond-extending", "lilypond-doc-pdf", "usr/share/doc/lilypond/html/Documentation/extending.pdf"),
    ("maximabook", "maxima-doc", "usr/share/doc/maxima-doc/maximabook-19-Sept-2004.pdf.gz"),
    ("pari-tutorial", "pari-doc", "usr/share/pari/doc/tutorial.pdf"),
    ("mpman", "texlive-metapost-doc", "usr/share/doc/texlive-doc/metapost/base/mpman.pdf"),
    ("mfpic", "texlive-metapost-doc", "usr/share/doc/texlive-doc/generic/mfpic/mfpic-doc.pdf"),
    ("zsh", "zsh-doc", "usr/share/doc/zsh-common/zsh.pdf"),
]


def fetch(work: Path) -> dict[str, Path]:
    """Each manual's PDF under `work`, downloading and unpacking the pinned packages as needed."""
    debs, tree = work / "debs", work / "tree"
    debs.mkdir(parents=True, exist_ok=True)
    for package, (version, sha) in PACKAGES.items():
        deb = debs / f"{package}_{version.replace(':', '%3a')}_all.deb"
        if not deb.is_file():
            subprocess.run(["apt-get", "download", f"{package}={version}"], cwd=debs, check=True)
        digest = hashlib.sha256(deb.read_bytes()).hexdigest()
        if digest != sha:
            sys.exit(f"{deb}: sha256 {digest}, expected {sha}")
        root = tree / package
        if not root.is_dir():
            root.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    pdfs = {}
    for manual, package, inner in MANUALS:
        src = tree / package / inner
        pdf = work / "pdf" / f"{manual}.pdf"
        if not pdf.is_file():
            pdf.parent.mkdir(parents=True, exist_ok=True)
            with (gzip.open(src) if inner.endswith(".gz") else src.open("rb")) as f, pdf.open("wb") as out:
                shutil.copyfileobj(f, out)
        pdfs[manual] = pdf
    return pdfs


def records(manual: str, pdf: Path) -> list[dict]:
    """One corpus record per page of `pdf` that carries text."""
    sys.path.insert(0, str(HERE.parents[1]))
    from indexer.documents import open_document
    from indexer.page_text import extract_text

    out = []
    for page in open_document(pdf).pages():
        text = extract_text(page, None).text
        if sum(c.isalnum() for c in text) < MIN_CHARS:
            continue
        rid = f"{manual}-p{page.page_no:03d}"
        out.append({"id": rid, "title": "", "text": text, "manual": manual, "page": page.page_no})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path.home() / ".cache" / "vtrag" / "manuals-dev")
    ap.add_argument("--out", type=Path, default=HERE / "corpus.jsonl.gz")
    ap.add_argument("--pdfs-only", type=Path, default=None, help="copy the PDFs into this folder and stop")
    a = ap.parse_args()
    pdfs = fetch(a.work)
    if a.pdfs_only is not None:
        a.pdfs_only.mkdir(parents=True, exist_ok=True)
        for manual, pdf in pdfs.items():
            shutil.copyfile(pdf, a.pdfs_only / f"{manual}.pdf")
        print(f"{len(pdfs)} PDFs in {a.pdfs_only}")
        return 0
    rows = [r for manual, pdf in pdfs.items() for r in records(manual, pdf)]
    # mtime 0 and no file name in the header: the same records give the same bytes
    with a.out.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as f:
        for r in rows:
            f.write((json.dumps(r, ensure_ascii=False) + "\n").encode("utf-8"))
    print(f"{len(rows)} pages of {len(pdfs)} manuals -> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
