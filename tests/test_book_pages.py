"""Reader-first pages: code that fits the column, plotting collapsed, the API linked both ways."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
MAX_CODE_WIDTH = 88


def _cells(path: Path):
    return json.loads(path.read_text())["cells"]


def _tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_code_fits_the_column(path):
    long = [
        f"cell {i} line {j + 1} ({len(line)} chars)"
        for i, cell in enumerate(_cells(path))
        if cell["cell_type"] == "code"
        for j, line in enumerate("".join(cell["source"]).splitlines())
        if len(line) > MAX_CODE_WIDTH
    ]
    assert not long, f"{path.name}: code lines over {MAX_CODE_WIDTH} characters: {long}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_plotting_is_collapsed_and_asserts_are_visible(path):
    code = [c for c in _cells(path) if c["cell_type"] == "code"]
    hidden = [c for c in code if "hide-input" in _tags(c) or "remove-input" in _tags(c)]
    assert hidden, f"{path.name}: no cell is collapsed (tag plotting cells with hide-input)"
    hidden_asserts = [i for i, c in enumerate(code) if c in hidden and re.search(r"^\s*assert\b", "".join(c["source"]), re.M)]
    assert not hidden_asserts, f"{path.name}: assert cells must stay visible, hidden: code cells {hidden_asserts}"
    plotting_visible = [
        i for i, c in enumerate(code)
        if c not in hidden and len(re.findall(r"\b(ax|axes|fig|plt)\b[\[\.]", "".join(c["source"]))) >= 8
    ]
    assert not plotting_visible, f"{path.name}: long plotting code left visible in code cells {plotting_visible}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_links_the_api(path):
    text = "\n".join("".join(c["source"]) for c in _cells(path) if c["cell_type"] == "markdown")
    links = re.findall(r"\{py:(?:func|class|meth)\}`~?nips2019\.", text)
    assert len(links) >= 3, f"{path.name}: only {len(links)} links to the API reference"


def test_docstrings_link_their_chapter():
    plain = []
    for py in sorted((ROOT / "nips2019").rglob("*.py")):
        for n, line in enumerate(py.read_text().splitlines(), 1):
            if re.search(r"[Tt]he chapter \*[^*]+\*", line):
                plain.append(f"{py.relative_to(ROOT)}:{n}")
    assert not plain, "write 'See the chapter :doc:`Title </book/topic>`' (a link), not plain italics: " + ", ".join(plain[:20])
