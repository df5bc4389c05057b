"""Build the WordNet noun data shipped in ``nips2019/hyperbolic/data/``.

Reads WordNet 3.0 as installed by the Debian package ``wordnet-base``
(``apt-get install -y wordnet-base``; the files live in ``/usr/share/wordnet``)
and writes

* ``wordnet_noun_edges.tsv.gz``: every direct hypernym (``@``) and instance
  hypernym (``@i``) pointer between noun synsets, one ``child<TAB>parent<TAB>kind``
  line each (82,115 synsets). The transitive closure is recomputed by
  :func:`nips2019.hyperbolic.wordnet_nouns` (~743k pairs: too large to ship);
* ``wordnet_mammal_closure.tsv.gz``: the mammals closure of the Poincaré
  embeddings paper (1180 nodes, 6540 pairs), ``child<TAB>ancestor`` lines.

Synset names follow NLTK's convention (``dog.n.01``: first lemma, lower-cased,
and its sense number, i.e. the position of the synset in ``index.noun``), so the
files match closures built with ``nltk`` by the reference code of Nickel & Kiela.
The closure rules mirror that code: hypernym chains, plus instance-hypernym chains
followed fully, each continued by hypernym chains. The mammal subset keeps pairs
with both ends in the subtree of ``mammal.n.01``, then applies the reference filter
(which drops two leaves, ``tusker.n.01`` and ``female_mammal.n.01``; its other
entries are ancestors outside the subtree). Keeping both ends inside also drops
the single pair ``(packhorse.n.01, pack_animal.n.01)`` that leaves the
subtree.

Usage::

    python scripts/hyperbolic_wordnet.py [--wordnet /usr/share/wordnet] [--out nips2019/hyperbolic/data]

WordNet 3.0 Copyright 2006 by Princeton University; see the ``LICENSE_WORDNET.txt``
written next to the data.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
from pathlib import Path

# The reference code's ``mammals_filter.txt``: ancestors whose edges are dropped, and children dropped.
FILTER_ANCESTORS = {
    "living_thing.n.01", "object.n.01", "organism.n.01", "animal.n.01", "entity.n.01",
    "physical_entity.n.01", "whole.n.02", "vertebrate.n.01", "chordate.n.01", "beast_of_burden.n.01",
    "work_animal.n.01", "female.n.01", "fissipedia.n.01", "pup.n.01", "abstraction.n.06", "group.n.01",
    "cub.n.03", "young.n.01", "young_mammal.n.01", "domestic_animal.n.01", "racer.n.03", "male.n.01",
}
FILTER_CHILDREN = {"tusker.n.01", "female_mammal.n.01"}


def parse(wordnet: Path):
    """Return ``(names, edges)``: offset -> NLTK-style name, and (child, parent, kind) offsets."""
    senses: dict[str, list[str]] = {}
    for line in open(wordnet / "index.noun", encoding="latin-1"):
        if line.startswith(" "):
            continue
        f = line.split()
        n_ptr = int(f[3])
        senses[f[0]] = f[4 + n_ptr + 2 :]  # lemma pos synset_cnt p_cnt ptrs... sense_cnt tagsense_cnt offsets
    names, edges = {}, []
    for line in open(wordnet / "data.noun", encoding="latin-1"):
        if line.startswith(" "):
            continue
        f = line.split(" | ")[0].split()
        offset, n_words = f[0], int(f[3], 16)
        lemma = f[4].lower()
        names[offset] = f"{lemma}.n.{senses[lemma].index(offset) + 1:02d}"
        i = 4 + 2 * n_words
        n_ptr = int(f[i])
        for k in range(n_ptr):
            sym, target, pos = f[i + 1 + 4 * k : i + 4 + 4 * k]
            if pos == "n" and sym in ("@", "@i"):
                edges.append((offset, target, sym))
    return names, edges


def closure(edges):
    """Closure pairs following the reference rules (see module docstring)."""
    hyper: dict[str, list[str]] = {}
    inst: dict[str, list[str]] = {}
    for c, p, kind in edges:
        (hyper if kind == "@" else inst).setdefault(c, []).append(p)
    memo: dict[str, frozenset] = {}

    def up(node):  # hypernym closure, excluding node
        if node not in memo:
            out = set()
            for p in hyper.get(node, ()):
                out.add(p)
                out |= up(p)
            memo[node] = frozenset(out)
        return memo[node]

    pairs = set()
    nodes = set(hyper) | set(inst) | {p for _, p, _ in edges}
    for u in nodes:
        for a in up(u):
            pairs.add((u, a))
        stack, seen = list(inst.get(u, ())), set()
        while stack:  # instance-hypernym chains followed fully, each continued by hypernym chains
            h = stack.pop()
            if h in seen:
                continue
            seen.add(h)
            pairs.add((u, h))
            pairs.update((u, a) for a in up(h))
            stack.extend(inst.get(h, ()))
    return pairs


def mammal_closure(pairs):
    """The mammals subset with the reference filter applied."""
    inside = {c for c, a in pairs if a == "mammal.n.01"} | {"mammal.n.01"}
    return sorted(
        (c, a)
        for c, a in pairs
        if c in inside and a in inside and a not in FILTER_ANCESTORS and c not in FILTER_CHILDREN
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wordnet", default="/usr/share/wordnet", type=Path)
    parser.add_argument("--out", default=Path(__file__).resolve().parents[1] / "nips2019/hyperbolic/data", type=Path)
    args = parser.parse_args(argv)
    names, edges = parse(args.wordnet)
    named = sorted({(names[c], names[p], k) for c, p, k in edges})
    args.out.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(args.out / "wordnet_noun_edges.tsv.gz", "wb", mtime=0) as fh:
        fh.write("".join(f"{c}\t{p}\t{k}\n" for c, p, k in named).encode())
    pairs = closure(named)
    mammals = mammal_closure(pairs)
    with gzip.GzipFile(args.out / "wordnet_mammal_closure.tsv.gz", "wb", mtime=0) as fh:
        fh.write("".join(f"{c}\t{a}\n" for c, a in mammals).encode())
    copyright_file = Path("/usr/share/doc/wordnet-base/copyright")
    if copyright_file.exists():
        shutil.copy(copyright_file, args.out / "LICENSE_WORDNET.txt")
    n_nodes = len({x for e in pairs for x in e})
    m_nodes = len({x for e in mammals for x in e})
    print(f"nouns: {n_nodes} nodes, {len(named)} direct edges, {len(pairs)} closure pairs")
    print(f"mammals: {m_nodes} nodes, {len(mammals)} closure pairs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
