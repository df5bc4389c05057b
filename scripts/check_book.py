"""Check a built book: every chapter page exists and shows its figures.

Usage: ``python scripts/check_book.py _build/html``. Exits non-zero, naming the page, when a chapter
listed in ``_toc.yml`` has no HTML page or no image (a kernel that ran with a non-interactive
matplotlib backend, for instance, silently drops every figure).
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def chapters() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [c["file"] for part in toc["parts"] for c in part["chapters"] if (ROOT / f"{c['file']}.ipynb").exists()]


def main(html_dir: str) -> int:
    html = Path(html_dir)
    problems = []
    for entry in chapters():
        page = html / f"{entry}.html"
        if not page.exists():
            problems.append(f"{page}: missing")
            continue
        text = page.read_text(encoding="utf-8")
        n_img = text.count("<img")
        if n_img == 0:
            problems.append(f"{page}: no figure was rendered")
        else:
            print(f"{entry}: {n_img} figure(s)")
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else "_build/html"))
