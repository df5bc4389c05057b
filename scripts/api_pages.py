"""Write the API reference: one page per subpackage under ``book/api/``, topic pages first, utils last.

    python scripts/api_pages.py          # rewrite book/api/*.md from the package's __all__
    python scripts/api_pages.py --check  # exit 1 if a committed page is out of date (the test suite runs this)

Each page opens with the subpackage's docstring (its first paragraph), a link to the chapter that
introduces it, a table of its public names with their one-line summaries (autosummary), and then
the entries themselves (autodoc). The index page ``book/api/index.md`` lists the subpackages.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nips2019  # noqa: E402

#: Subpackage -> (page title, chapter doc or None). Topic pages come in book order; shared modules last.
CHAPTERS = {
    "fairness": ("Fairness measures and their enforcement", "fairness"),
    "discrete": ("Differentiating through discrete solvers and sorting", "discrete"),
    "implicit": ("Deep equilibrium models (implicit layers)", "equilibrium"),
    "wann": ("Weight-agnostic neural networks", "equilibrium"),
    "ntk": ("Neural tangent kernels", "ntk"),
    "circuits": ("Probabilistic circuits", "circuits"),
    "hebbian": ("Hebbian learning and plasticity", "hebbian"),
    "prototypes": ("Prototype layers (ProtoPNet)", "prototypes"),
    "estimators": ("Monte Carlo gradient estimators", "gradients"),
    "optim": ("Optimisers beyond SGD", "gradients"),
    "bayes": ("The Bayesian learning rule", "gradients"),
    "setfunctions": ("Fourier-sparse set functions", "setfunctions"),
    "bayesopt": ("Bayesian optimisation in high dimension", "setfunctions"),
    "factorization": ("Deep matrix factorisation", "factorization"),
    "pono": ("Positional normalisation", "factorization"),
    "robust": ("Randomised smoothing and Lipschitz bounds", "robustness"),
    "calibration": ("Label smoothing and calibration", "robustness"),
    "landscape": ("Loss landscapes, curvature and K-FAC", "landscape"),
    "warpgrad": ("Warped gradient descent and MAML", "metalearning"),
    "kernels": ("Kernel two-sample tests", "distributions"),
    "info": ("Information measures", "distributions"),
    "hyperbolic": ("Hyperbolic embeddings", "hyperbolic"),
    "lineage": ("Lineage tracing with optimal transport", "lineage"),
    "style": ("Wasserstein style transfer", "style"),
    "icnn": ("Input convex networks and transport maps", "transport"),
    "alignment": ("Aligning embeddings with optimal transport", "transport"),
    "score": ("Score-based generative models", "generative"),
    "simulate": ("Differentiable simulators and rendering", "generative"),
    "shapes": ("Shapes as unions of convexes", "generative"),
    "boxes": ("Box embeddings", "boxes"),
    "sketch": ("Sparse random projections", "reduction"),
    "gpfa": ("Gaussian-process factor analysis", "reduction"),
    "causal": ("Instrumental variables, synthetic control and treatment effects", "causal"),
    "pointprocess": ("Point processes: Hawkes, logic rules, destructors", "events"),
    "bandits": ("Bandits and adaptive experiments", "bandits"),
    "rl": ("Tabular reinforcement learning", "rl"),
    "polyproofs": ("Certificates of polynomial non-negativity", "proofs"),
    "verification": ("Temporal logic and rational verification", "multiagent"),
    "voting": ("Voting rules and virtual democracy", "multiagent"),
    "tvo": ("The thermodynamic variational objective", "tvo"),
    "ot": ("Optimal transport (shared)", "lineage"),
    "utils": ("Utilities and the package contract", None),
}


def order() -> list[str]:
    """Subpackages with a public name, topics in book order, shared modules last (an empty stub has no page)."""
    subs = [t for t in nips2019.TOPICS] + [s for s in sorted(nips2019._SUBPACKAGES) if s not in nips2019.TOPICS]
    subs = [s for s in subs if importlib.import_module(f"nips2019.{s}").__all__]
    return sorted(subs, key=lambda s: (s == "utils", subs.index(s)))


def _kind(obj) -> str:
    if inspect.isclass(obj):
        return "class"
    if callable(obj):
        return "function"
    return "data"


def _data_doc(sub: str, name: str) -> str:
    """The ``#:`` comment above a constant's definition in the subpackage's sources (or a placeholder)."""
    import re

    for path in sorted((ROOT / "nips2019" / sub).glob("*.py")):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if re.match(rf"{name}\s*(:[^=]*)?=", line):
                doc = []
                j = i - 1
                while j >= 0 and lines[j].startswith("#:"):
                    doc.insert(0, lines[j][2:].strip())
                    j -= 1
                if doc:
                    return " ".join(doc)
    return "A constant of the subpackage (document it with a ``#:`` comment above its definition)."


def page(sub: str) -> str:
    module = importlib.import_module(f"nips2019.{sub}")
    title, chapter = CHAPTERS.get(sub, (sub, None))
    names = list(module.__all__)
    callables = [n for n in names if _kind(getattr(module, n)) != "data"]
    data = [n for n in names if _kind(getattr(module, n)) == "data"]
    lines = [
        f"# `nips2019.{sub}`: {title}",
        "",
        "<!-- Generated by scripts/api_pages.py from the package; do not edit by hand. -->",
        "",
    ]
    functions = [n for n in callables if _kind(getattr(module, n)) == "function"]
    example = (functions or callables or names)[0]
    if chapter:
        lines += [f"Introduced in the chapter {{doc}}`/book/{chapter}`. Import the names from the subpackage: "
                  f"`from nips2019.{sub} import {example}`.", ""]
    lines += [
        "```{eval-rst}",
        f".. automodule:: nips2019.{sub}",
        "   :no-members:",
        "",
        f".. currentmodule:: nips2019.{sub}",
        "",
        ".. rubric:: Public names",
        "",
        ".. autosummary::",
        "",
    ]
    lines += [f"   {n}" for n in callables]
    lines += [""]
    for n in callables:
        directive = "autoclass" if _kind(getattr(module, n)) == "class" else "autofunction"
        lines += [f".. {directive}:: {n}"]
        if directive == "autoclass":
            lines += ["   :members:", "   :show-inheritance:"]
        lines += [""]
    for n in data:
        lines += [f".. py:data:: {n}", "", f"   {_data_doc(sub, n)}", ""]
    lines += ["```", ""]
    return "\n".join(lines)


def index() -> str:
    lines = [
        "# API reference",
        "",
        "<!-- Generated by scripts/api_pages.py from the package; do not edit by hand. -->",
        "",
        "The `nips2019` package has one subpackage per topic of the book, plus shared optimal-transport",
        "code (`ot`) and utilities (`utils`). Each subpackage re-exports its public names, so",
        "`from nips2019.ntk import analytic_kernels` is the import to use. Every function follows the",
        "device and dtype of its tensor inputs, checks its arguments as declared next to its signature,",
        "and takes randomness as `generator=` (an int seed or a CPU `torch.Generator`); see",
        "{doc}`utils` for the contract.",
        "",
        "| Subpackage | Topic | Public names |",
        "|---|---|---|",
    ]
    for sub in order():
        module = importlib.import_module(f"nips2019.{sub}")
        title = CHAPTERS.get(sub, (sub, None))[0]
        lines.append(f"| {{doc}}`nips2019.{sub} <{sub}>` | {title} | {len(module.__all__)} |")
    lines += [""]
    return "\n".join(lines)


def toc_problems() -> list[str]:
    """API pages that ``_toc.yml`` does not list under ``book/api/index`` (in this order)."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    for part in toc.get("parts", []):
        for chapter in part.get("chapters", []):
            if chapter.get("file") == "book/api/index":
                listed = [s.get("file") for s in chapter.get("sections", [])]
                want = [f"book/api/{sub}" for sub in order()]
                return [] if listed == want else [f"_toc.yml must list {want} under book/api/index, has {listed}"]
    return ["_toc.yml has no entry book/api/index"]


def pages() -> dict[Path, str]:
    out = {ROOT / "book" / "api" / "index.md": index()}
    for sub in order():
        out[ROOT / "book" / "api" / f"{sub}.md"] = page(sub)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a committed page is out of date")
    args = parser.parse_args(argv)
    stale = []
    for path, text in pages().items():
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path.relative_to(ROOT)))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    problems = toc_problems()
    for p in problems:
        print(p)
    if stale:
        print("out of date (run `python scripts/api_pages.py`): " + ", ".join(stale))
        return 1
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
