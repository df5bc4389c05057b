"""Wall-clock time of each chapter notebook, in quick mode and at full size.

A notebook is executed in a fresh kernel with nbclient, exactly as the book build and nbval do
(kernel start and imports included). ``--quick`` runs only the quick-mode timings.
"""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks.run import Case

BOOK = Path(__file__).resolve().parents[1] / "book"


def execute_notebook(path: Path, quick: bool, timeout: int = 1800) -> None:
    """Execute ``path`` in a fresh python3 kernel with NIPS2019_QUICK set accordingly."""
    import nbformat
    from nbclient import NotebookClient

    old = os.environ.get("NIPS2019_QUICK")
    os.environ["NIPS2019_QUICK"] = "1" if quick else "0"
    try:
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(BOOK)}}).execute()
    finally:
        if old is None:
            os.environ.pop("NIPS2019_QUICK", None)
        else:
            os.environ["NIPS2019_QUICK"] = old


def cases(quick: bool) -> list[Case]:
    out = []
    modes = [True] if quick else [True, False]
    for path in sorted(BOOK.glob("*.ipynb")):
        for q in modes:
            out.append(
                Case(
                    name=f"{path.name}, {'quick' if q else 'full'} mode",
                    ours=lambda path=path, q=q: execute_notebook(path, q),
                    repeat=1,
                    warmup=False,
                    note="one run, fresh kernel, imports included",
                )
            )
    return out
