"""The book's own contract: notebooks are clean, registered, and cite what exists."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
NOTEBOOKS = sorted(BOOK.glob("*.ipynb"))


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc.get("parts", toc.get("chapters", [])))
    return files


def _bib_keys() -> set[str]:
    text = (BOOK / "references.bib").read_text()
    return set(re.findall(r"^@\w+\s*\{\s*([^,\s]+)\s*,", text, flags=re.M))


def _cells(path: Path):
    return json.loads(path.read_text())["cells"]


def test_there_are_chapters():
    assert NOTEBOOKS, "book/ holds no notebook"


def test_toc_entries_exist():
    for entry in _toc_files():
        candidates = [ROOT / f"{entry}{ext}" for ext in (".md", ".ipynb")]
        assert any(c.exists() for c in candidates), f"_toc.yml lists {entry}, which does not exist"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_listed_in_toc(path):
    assert f"book/{path.stem}" in _toc_files(), f"{path.name} is not in _toc.yml"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_no_outputs(path):
    for i, cell in enumerate(_cells(path)):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"{path.name} cell {i} has stored outputs"
            assert cell.get("execution_count") is None, f"{path.name} cell {i} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_follows_the_arc(path):
    cells = _cells(path)
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert "setup_notebook(" in code[0], "the first code cell must call nips2019.utils.setup_notebook()"
    n_assert_cells = sum(bool(re.search(r"^\s*assert\b", src, flags=re.M)) for src in code)
    assert n_assert_cells >= 3, f"only {n_assert_cells} cells assert a claim"
    assert "{cite" in text, "the chapter cites no paper"
    assert re.search(r"use it yourself", text, flags=re.I), "no 'Use it yourself' section"
    joined = "\n".join(code)
    for bad in ("fetch_", "urlopen", "requests.get", "download=True", "nltk.download", "!pip", "%pip"):
        assert bad not in joined, f"{path.name} mentions {bad!r}: nothing may be downloaded or installed at run time"


def test_citations_resolve():
    keys = _bib_keys()
    sources = [p.read_text() for p in BOOK.glob("*.md")]
    sources += ["".join(c["source"]) for p in NOTEBOOKS for c in _cells(p) if c["cell_type"] == "markdown"]
    cited = set()
    for src in sources:
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", src):
            cited.update(k.strip() for k in group.split(","))
    missing = sorted(cited - keys)
    assert not missing, f"cited but not in references.bib: {missing}"


def test_bib_keys_unique():
    text = (BOOK / "references.bib").read_text()
    keys = re.findall(r"^@\w+\s*\{\s*([^,\s]+)\s*,", text, flags=re.M)
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    assert not dupes, f"duplicate bibtex keys: {dupes}"


def test_api_pages_are_up_to_date():
    """book/api/*.md are generated from the package's __all__ (scripts/api_pages.py) and listed in _toc.yml."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "api_pages.py"), "--check"], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stdout + out.stderr
