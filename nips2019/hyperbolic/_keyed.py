"""A trained embedding with node names: save/load, a TSV loader, and the usual queries."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import torch

from ..utils import InstanceOf, Integer, Items, Options, Tensor, validate
from ._data import Hierarchy, _index, transitive_closure, transitive_reduction
from ._geometry import MODELS, _check_points, _pairwise_distance

__all__ = ["KeyedEmbedding", "hierarchy_from_tsv"]

_PATH = InstanceOf(str, os.PathLike)
_NAME = InstanceOf(str)


@validate(path=_PATH, delimiter=InstanceOf(str))
def hierarchy_from_tsv(path: str | os.PathLike, *, delimiter: str = "\t") -> Hierarchy:
    """Read a hierarchy from a text file of ``child<TAB>parent`` lines.

    Blank lines and lines starting with ``#`` are skipped. The pairs may be the direct edges or
    already a transitive closure: the closure is computed either way and the direct edges are its
    transitive reduction. Node ``i`` is the ``i``-th name in sorted order, as for the shipped
    WordNet closures.
    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Parameters
    ----------
    path : str or path-like
    delimiter : str
        Field separator (default: a tab).

    Returns
    -------
    Hierarchy

    Raises
    ------
    ValueError
        If the file is missing, a line does not hold exactly two fields, a node is its own parent,
        or the pairs contain a cycle.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "toy.tsv"
    >>> _ = path.write_text("dog\\tmammal\\ncat\\tmammal\\npuppy\\tdog\\n")
    >>> h = hierarchy_from_tsv(path)
    >>> h.names, len(h.closure), len(h.parents)
    (['cat', 'dog', 'mammal', 'puppy'], 4, 3)
    """
    if not delimiter:
        raise ValueError("hierarchy_from_tsv: delimiter must be a non-empty string")
    if not os.path.isfile(path):
        raise ValueError(f"hierarchy_from_tsv: path {os.fspath(path)!r} is not a file")
    pairs = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.split(delimiter)
            if len(fields) != 2 or not fields[0] or not fields[1]:
                raise ValueError(f"hierarchy_from_tsv: line {number} of path must split into child and parent "
                                 f"at the delimiter {delimiter!r}, got {line!r}")
            if fields[0] == fields[1]:
                raise ValueError(f"hierarchy_from_tsv: line {number} of path makes {fields[0]!r} its own parent")
            pairs.append((fields[0], fields[1]))
    if not pairs:
        raise ValueError(f"hierarchy_from_tsv: path {os.fspath(path)!r} holds no (child, parent) pairs")
    names, edges = _index(sorted(set(pairs)))
    closure = transitive_closure(edges, len(names))
    return Hierarchy(names, closure, transitive_reduction(closure, len(names)))


class KeyedEmbedding:
    r"""Named points of a hierarchy embedding, with the queries gensim's ``PoincareKeyedVectors`` offers.

    Distances are the model's (hyperbolic for ``"poincare"``/``"lorentz"``); the *radius* of a node
    is its distance from the origin (:math:`2\operatorname{artanh}\|x\|` on the ball), the
    embedding's measure of generality: general concepts sit near the origin. Saved as a NumPy
    ``.npz`` archive holding only plain arrays (the points, the names as a unicode array, the model
    as JSON), read back with ``allow_pickle=False``: loading runs no code.
    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Parameters
    ----------
    names : list of str
        Unique node names; row ``i`` of ``points`` is ``names[i]``.
    points : Tensor, shape (n, d) (``d + 1`` for Lorentz)
        Points of the model (e.g. ``train_embedding(...).embedding.weight.detach()``).
    model : {"poincare", "lorentz", "euclidean"}

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[0.0, 0.0], [0.5, 0.0], [0.0, 0.6], [0.7, 0.1]], dtype=torch.float64)
    >>> kv = KeyedEmbedding(["animal", "dog", "cat", "puppy"], x)
    >>> kv.most_similar("puppy", n_neighbors=1)[0][0], kv.closest_parent("puppy"), kv.rank("puppy", "dog")
    ('dog', 'dog', 1)
    >>> kv.ancestors("puppy")
    ['dog', 'animal']
    """

    @validate(
        names=Items(_NAME, min_length=1),
        points=Tensor(shape=("n", "d"), dtype="floating"),
        model=Options(*MODELS),
    )
    def __init__(self, names: list, points: torch.Tensor, *, model: str = "poincare"):
        if len(names) != points.shape[0]:
            raise ValueError(f"KeyedEmbedding: names has {len(names)} entries but points has {points.shape[0]} rows")
        if len(set(names)) != len(names):
            raise ValueError("KeyedEmbedding: names must be unique")
        _check_points("KeyedEmbedding", model, points=points)
        self.names, self.points, self.model = list(names), points.detach(), model
        self._index = {n: i for i, n in enumerate(self.names)}
        origin = torch.zeros_like(self.points[:1])
        if model == "lorentz":
            origin[0, 0] = 1
        self.radii = _pairwise_distance(origin, self.points, model)[0]

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return f"KeyedEmbedding({len(self)} nodes, model={self.model!r}, shape={tuple(self.points.shape)})"

    def _row(self, func: str, argname: str, name) -> int:
        if not isinstance(name, str):
            raise TypeError(f"KeyedEmbedding.{func}: {argname} must be a node name (str), got {type(name).__name__}")
        if name not in self._index:
            raise ValueError(f"KeyedEmbedding.{func}: {argname} {name!r} is not a node of this embedding")
        return self._index[name]

    def _distances_from(self, i: int) -> torch.Tensor:
        return _pairwise_distance(self.points[i:i + 1], self.points, self.model)[0]

    @validate(rows=Tensor(ndim=1, dtype="integer", low=0, high=lambda a: len(a["self"]), optional=True))
    def distance_matrix(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Distances from ``rows`` (default: all) to every node, shape ``(r, n)``; feeds :func:`reconstruction`."""
        x = self.points if rows is None else self.points[rows.to(self.points.device)]
        return _pairwise_distance(x, self.points, self.model)

    @validate(a=_NAME, b=_NAME)
    def distance(self, a: str, b: str) -> float:
        """The distance between nodes ``a`` and ``b``."""
        i, j = self._row("distance", "a", a), self._row("distance", "b", b)
        return float(_pairwise_distance(self.points[i:i + 1], self.points[j:j + 1], self.model)[0, 0])

    @validate(name=_NAME)
    def radius(self, name: str) -> float:
        """Distance of ``name`` from the origin (larger: more specific)."""
        return float(self.radii[self._row("radius", "name", name)])

    @validate(name=_NAME, n_neighbors=Integer(low=1))
    def most_similar(self, name: str, *, n_neighbors: int = 10) -> list:
        """The ``n_neighbors`` nodes nearest to ``name``, as ``(name, distance)`` pairs, nearest first."""
        i = self._row("most_similar", "name", name)
        d = self._distances_from(i)
        d[i] = float("inf")
        k = min(n_neighbors, len(self) - 1)
        values, idx = torch.topk(d, k, largest=False)  # ties: the lower index first is not guaranteed
        return [(self.names[j], float(v)) for v, j in zip(values.tolist(), idx.tolist())]

    @validate(a=_NAME, b=_NAME)
    def rank(self, a: str, b: str) -> int:
        r"""Rank of ``b`` among the neighbours of ``a``: :math:`1 + \#\{w \ne a, b : d(a, w) \le d(a, b)\}`.

        Ties count against ``b``, as in :func:`reconstruction`.
        """
        i, j = self._row("rank", "a", a), self._row("rank", "b", b)
        if i == j:
            raise ValueError(f"KeyedEmbedding.rank: b must differ from a, got {a!r} twice")
        d = self._distances_from(i)
        closer = d <= d[j]
        closer[i] = closer[j] = False
        return 1 + int(closer.sum())

    def _closest(self, func: str, name: str, parent: bool):
        i = self._row(func, "name", name)
        d = self._distances_from(i)
        keep = self.radii < self.radii[i] if parent else self.radii > self.radii[i]
        keep[i] = False
        if not bool(keep.any()):
            return None
        return self.names[int(torch.where(keep, d, torch.full_like(d, float("inf"))).argmin())]

    @validate(name=_NAME)
    def closest_parent(self, name: str) -> str | None:
        """The nearest node closer to the origin than ``name`` (``None`` for the node nearest the origin)."""
        return self._closest("closest_parent", name, True)

    @validate(name=_NAME)
    def closest_child(self, name: str) -> str | None:
        """The nearest node farther from the origin than ``name`` (``None`` for the outermost node)."""
        return self._closest("closest_child", name, False)

    @validate(name=_NAME)
    def ancestors(self, name: str) -> list:
        """Follow :meth:`closest_parent` from ``name`` towards the origin; the chain, nearest first."""
        self._row("ancestors", "name", name)
        chain, node = [], self.closest_parent(name)
        while node is not None:
            chain.append(node)
            node = self.closest_parent(node)
        return chain

    @validate(name=_NAME, max_depth=Integer(low=1))
    def descendants(self, name: str, *, max_depth: int = 5) -> list:
        """Follow :meth:`closest_child` from ``name`` outwards, at most ``max_depth`` steps."""
        self._row("descendants", "name", name)
        chain, node = [], self.closest_child(name)
        while node is not None and len(chain) < max_depth:
            chain.append(node)
            node = self.closest_child(node)
        return chain

    @validate(path=_PATH)
    def save(self, path: str | os.PathLike) -> None:
        """Write the embedding to ``path`` (a NumPy ``.npz`` of plain arrays; no pickle)."""
        meta = json.dumps({"format": "nips2019.hyperbolic.KeyedEmbedding", "version": 1, "model": self.model,
                           "dtype": str(self.points.dtype).replace("torch.", "")})
        with open(path, "wb") as fh:  # a file object: numpy does not append ".npz" to the name
            np.savez(fh, points=self.points.cpu().numpy(), names=np.array(self.names, dtype=str),
                     meta=np.array(meta))

    @classmethod
    @validate(path=_PATH)
    def load(cls, path: str | os.PathLike) -> KeyedEmbedding:
        """Read an embedding written by :meth:`save` (``allow_pickle=False``: no code runs)."""
        if not os.path.isfile(path):
            raise ValueError(f"KeyedEmbedding.load: path {os.fspath(path)!r} is not a file")
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                points, names = data["points"], data["names"].tolist()
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
            raise ValueError(f"KeyedEmbedding.load: path {os.fspath(path)!r} is not a saved KeyedEmbedding "
                             f"({err})") from None
        if meta.get("format") != "nips2019.hyperbolic.KeyedEmbedding":
            raise ValueError(f"KeyedEmbedding.load: path {os.fspath(path)!r} is not a saved KeyedEmbedding")
        return cls(names, torch.from_numpy(points), model=meta["model"])
