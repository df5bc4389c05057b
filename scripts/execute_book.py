"""Execute the book's notebooks in parallel into Jupyter Book's execution cache.

Usage (``make book`` runs it before rendering)::

    python scripts/execute_book.py [--jobs 2] [--timeout 900] [--cache _build/.jupyter_cache]

Jupyter Book 1 (myst-nb) executes notebooks one after another while it renders. This script
runs the stale ones first, ``--jobs`` at a time (one kernel per core, one torch thread each),
and stores each executed notebook in the same jupyter-cache that ``jupyter-book build`` reads,
so the render that follows only merges cached outputs. A notebook whose code cells did not
change since its last successful run is not executed again (the cache is keyed on the code
cells, like myst-nb's). A failing cell fails the script, naming the notebook and showing the
traceback; nothing of a failed notebook is cached, so the render would fail on it too.

Per-notebook times go to stdout and to ``_build/execution_times.json``.

The cache key ignores the environment: ``make book`` always executes at full size
(``NIPS2019_QUICK=0``); after running notebooks in another mode into this cache, clear it
(``make clean``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _rel(path) -> str:
    return os.path.relpath(path, ROOT)


def toc_notebooks() -> list[Path]:
    """The notebooks listed in ``_toc.yml``, in book order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    found: list[Path] = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node and (ROOT / f"{node['file']}.ipynb").exists():
                found.append(ROOT / f"{node['file']}.ipynb")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return found


def _execute(path: str, timeout: int) -> dict:
    """Run one notebook in its own folder (as myst-nb does); return the executed notebook and its time."""
    from jupyter_cache.executors.utils import single_nb_execution

    nb = nbformat.read(path, as_version=4)
    result = single_nb_execution(nb, cwd=str(Path(path).parent), timeout=timeout, allow_errors=False)
    return {
        "path": path,
        "notebook": nbformat.writes(nb),
        "seconds": result.time,
        "error": None if result.err is None else f"{type(result.err).__name__}: {result.err}",
        "traceback": result.exc_string,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("JOBS", 2)))
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    parser.add_argument("--cache", default=str(ROOT / "_build" / ".jupyter_cache"))
    parser.add_argument("--times", default=str(ROOT / "_build" / "execution_times.json"))
    parser.add_argument("notebooks", nargs="*", help="default: every notebook in _toc.yml")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")

    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(args.cache)
    paths = [Path(p).resolve() for p in args.notebooks] or toc_notebooks()
    times = {}
    if Path(args.times).exists():
        times = json.loads(Path(args.times).read_text())
    stale = []
    for path in paths:
        cache.add_nb_to_project(str(path))
        try:
            cache.match_cache_notebook(nbformat.read(path, as_version=4))
            print(f"cached    {_rel(path)}")
        except KeyError:
            stale.append(path)

    failures = []
    start = time.perf_counter()
    # Longest first (by the last recorded time), so one slow chapter does not start last.
    stale.sort(key=lambda p: -times.get(_rel(p), 0.0))
    if stale:
        print(f"executing {len(stale)} notebook(s), {args.jobs} at a time", flush=True)
        with ProcessPoolExecutor(max_workers=min(args.jobs, len(stale))) as pool:
            futures = [pool.submit(_execute, str(p), args.timeout) for p in stale]
            for future in as_completed(futures):
                out = future.result()
                rel = _rel(out["path"])
                if out["error"]:
                    failures.append(out)
                    first = out["error"].splitlines()[0]
                    print(f"FAILED    {rel} after {out['seconds']:.0f} s: {first} (traceback below)", flush=True)
                    continue
                nb = nbformat.reads(out["notebook"], as_version=4)
                cache.cache_notebook_bundle(
                    CacheBundleIn(nb, out["path"], data={"execution_seconds": out["seconds"]}),
                    check_validity=False,
                    overwrite=True,
                )
                times[rel] = round(out["seconds"], 1)
                print(f"executed  {rel} in {out['seconds']:.0f} s", flush=True)
    wall = time.perf_counter() - start
    Path(args.times).parent.mkdir(parents=True, exist_ok=True)
    Path(args.times).write_text(json.dumps(times, indent=1, sort_keys=True))
    if stale:
        total = sum(times.get(_rel(p), 0) for p in stale)
        print(f"executed {len(stale) - len(failures)}/{len(stale)} notebook(s): {wall:.0f} s wall, {total:.0f} s of kernels")
    slow = sorted(times.items(), key=lambda kv: -kv[1])[:5]
    if slow:
        print("slowest (full size): " + ", ".join(f"{k} {v:.0f} s" for k, v in slow))
    for out in failures:
        print(f"\n==== {out['path']}: {out['error']}\n{out['traceback'] or ''}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
