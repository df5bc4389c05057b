"""The weight-agnostic architecture search: multi-objective ranking, tournament selection, mutation."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ..utils import Bool, Generator, Integer, Items, Options, Probability, Real, Tensor, numpy_rng, validate
from ..utils import progress as _bar
from ._genome import ACTIVATIONS, MUTATION_PROBS, Genome, _mutate, shared_weight_forward

#: The shared weight values of the WANN paper's evaluations.
DEFAULT_WEIGHTS = (-2.0, -1.0, -0.5, 0.5, 1.0, 2.0)


@dataclasses.dataclass
class WANNSearchResult:
    """Outcome of :func:`wann_search`.

    Attributes
    ----------
    best : Genome
        The genome with the highest mean accuracy over the weights ever seen (fewest
        connections among ties).
    population : list of Genome
        The last generation bred (elites first; not evaluated).
    weights : Tensor, shape (K,)
        The shared weight values used.
    best_accuracy : Tensor, shape (K,)
        Training accuracy of ``best`` for each weight.
    mean_accuracy, max_accuracy, n_connections : list
        Per generation: the population's best mean accuracy, best max accuracy, and the
        connection count of the genome with the best mean.
    """

    best: Genome
    population: list
    weights: torch.Tensor
    best_accuracy: torch.Tensor
    mean_accuracy: list
    max_accuracy: list
    n_connections: list


@validate(genome=Items(), x=Tensor(shape=("B", None), dtype="floating"),
          y=Tensor(shape=("B",), dtype="integer", low=0), weights=Tensor(shape=("K",), dtype="floating"),
          same=[("x", "weights")])
def weight_accuracies(genome, x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    r"""Classification accuracy of each genome for each shared weight.

    The predicted class is the output node with the largest value (softmax does not change
    the argmax).

    Parameters
    ----------
    genome : list of Genome
    x : Tensor, shape (B, n_inputs)
    y : Tensor of int, shape (B,)
        Labels in ``[0, n_outputs)``.
    weights : Tensor, shape (K,)

    Returns
    -------
    Tensor, shape (len(genome), K)

    Notes
    -----
    See the chapter :doc:`One shared weight, infinitely many layers </book/equilibrium>`.

    Examples
    --------
    >>> import torch
    >>> g = Genome(1, 2, connections=[(0, 2)])  # output 0 = w x, output 1 = 0
    >>> x = torch.tensor([[1.0], [-1.0]])
    >>> weight_accuracies([g], x, torch.tensor([0, 1]), torch.tensor([-1.0, 1.0])).tolist()
    [[0.0, 1.0]]
    """
    out = []
    for i, g in enumerate(genome):
        if not isinstance(g, Genome):
            raise TypeError(f"weight_accuracies: genome[{i}] must be a Genome, got {type(g).__name__}")
        if g.n_inputs != x.shape[1]:
            raise ValueError(f"weight_accuracies: x must have shape (B, {g.n_inputs}), got {tuple(x.shape)}")
        if int(y.max()) >= g.n_outputs:
            raise ValueError(f"weight_accuracies: y has label {int(y.max())} but genome[{i}] has "
                             f"{g.n_outputs} outputs")
        out.append(_accuracy(g, x, y, weights))
    return torch.stack(out)


def _accuracy(g, x, y, weights):
    pred = shared_weight_forward.__wrapped__(g, x, weights).argmax(2)  # (K, B)
    return (pred == y).to(x.dtype).mean(1)


def _fronts(obj: np.ndarray) -> np.ndarray:
    """Non-dominated front index (0 = Pareto front) of each row of ``obj`` (maximised)."""
    n = len(obj)
    ge = (obj[:, None, :] >= obj[None, :, :]).all(2)
    gt = (obj[:, None, :] > obj[None, :, :]).any(2)
    dominates = ge & gt  # dominates[i, j]: i dominates j
    count = dominates.sum(0)
    front = np.full(n, -1)
    k, current = 0, np.flatnonzero(count == 0)
    while len(current):
        front[current] = k
        count = count - dominates[current].sum(0)
        count[front >= 0] = -1
        current = np.flatnonzero(count == 0)
        k += 1
    return front


def _crowding(obj: np.ndarray) -> np.ndarray:
    n, m = obj.shape
    dist = np.zeros(n)
    for j in range(m):
        order = np.argsort(obj[:, j])
        span = obj[order[-1], j] - obj[order[0], j]
        dist[order[0]] = dist[order[-1]] = np.inf
        if span > 0 and n > 2:
            dist[order[1:-1]] += (obj[order[2:], j] - obj[order[:-2], j]) / span
    return dist


def _rank(obj: np.ndarray) -> np.ndarray:
    """Rank 0 = best: by front, then by crowding distance within a front (NSGA-II)."""
    front = _fronts(obj)
    crowd = np.zeros(len(obj))
    for f in np.unique(front):
        idx = np.flatnonzero(front == f)
        crowd[idx] = _crowding(obj[idx])
    order = np.lexsort((-crowd, front))
    rank = np.empty(len(obj), dtype=np.int64)
    rank[order] = np.arange(len(obj))
    return rank


@validate(
    x=Tensor(shape=("B", None), dtype="floating"),
    y=Tensor(shape=("B",), dtype="integer", low=0),
    weights=Tensor(shape=("K",), dtype="floating", optional=True),
    n_outputs=Integer(low=1, optional=True),
    pop_size=Integer(low=4),
    n_generations=Integer(low=1),
    p_connections=Probability(),
    tournament_size=Integer(low=1),
    elite_ratio=Probability(),
    cull_ratio=Real(low=0, high=1, closed="left"),
    p_connect=Probability(),
    probs=Items(Real(low=0), length=4),
    activations=Items(Options(*ACTIVATIONS), min_length=1),
    generator=Generator(),
    progress=Bool(optional=True),
    same=[("x", "weights")],
)
def wann_search(x: torch.Tensor, y: torch.Tensor, *, weights: torch.Tensor | None = None, n_outputs: int | None = None,
                pop_size: int = 64, n_generations: int = 50, p_connections: float = 0.8, tournament_size: int = 8,
                elite_ratio: float = 0.2, cull_ratio: float = 0.2, p_connect: float = 0.25,
                probs=MUTATION_PROBS, activations=ACTIVATIONS, generator=None,
                progress: bool | None = None) -> WANNSearchResult:
    r"""Search a network topology that classifies ``(x, y)`` whatever the shared weight.

    Every genome is evaluated with each shared weight :math:`w_k` (all connections carry
    :math:`w_k`, nothing is trained), giving training accuracies :math:`a_k`. The population
    is ranked by Pareto dominance (non-dominated fronts, crowding distance within a front,
    as in NSGA-II) on two objectives: with probability ``p_connections`` the mean accuracy
    :math:`\bar a` and the sparsity :math:`1 / \#\text{connections}`, otherwise :math:`\bar a` and
    the best accuracy :math:`\max_k a_k`. The top ``elite_ratio`` survive unchanged; the rest
    of the next generation are mutated winners (:func:`mutate`) of tournaments among the
    genomes not culled (the worst ``cull_ratio``). Generation 0 is minimal:
    :meth:`Genome.initial`, inputs wired straight to the outputs at random.

    Parameters
    ----------
    x : Tensor, shape (B, n_inputs)
        Training inputs (standardise them: the activations are tuned to unit scale).
    y : Tensor of int, shape (B,)
        Labels in ``[0, n_outputs)``.
    weights : Tensor, shape (K,), optional
        Shared weight values (default :data:`DEFAULT_WEIGHTS`, ``x``'s dtype).
    n_outputs : int, optional
        Number of classes (default ``y.max() + 1``).
    pop_size, n_generations, tournament_size : int
    p_connections : float
        Probability of ranking on (mean, sparsity) rather than (mean, max).
    elite_ratio, cull_ratio : float
    p_connect : float
        Connection probability of the initial genomes.
    probs : sequence of 4 floats
        Mutation operator probabilities (see :func:`mutate`).
    activations : sequence of str
        Activations available to hidden nodes.
    generator : None, int or torch.Generator
        The whole search is reproducible from it.
    progress : bool, optional
        Progress bar over generations.

    Returns
    -------
    WANNSearchResult

    Notes
    -----
    See the chapter :doc:`One shared weight, infinitely many layers </book/equilibrium>`.
    The defaults follow the authors' released configuration where it applies to
    classification (six weights, ``p_connections = 0.8``, mutation probabilities, elite and
    cull ratios); the population and the number of generations are much smaller.

    References
    ----------
    A. Gaier and D. Ha, *Weight agnostic neural networks*, NeurIPS 2019. K. Deb et al.,
    *A fast and elitist multiobjective genetic algorithm: NSGA-II*, IEEE TEC 2002.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[-2.0], [-1.0], [1.0], [2.0]])
    >>> y = torch.tensor([0, 0, 1, 1])
    >>> res = wann_search(x, y, pop_size=8, n_generations=3, generator=0)
    >>> res.best_accuracy.shape, res.best.n_inputs
    (torch.Size([6]), 1)
    """
    rng = numpy_rng(generator)
    n_out = int(y.max()) + 1 if n_outputs is None else int(n_outputs)
    if int(y.max()) >= n_out:
        raise ValueError(f"wann_search: y has label {int(y.max())} but n_outputs = {n_out}")
    if sum(probs) <= 0:
        raise ValueError("wann_search: probs must not all be zero")
    w = torch.tensor(DEFAULT_WEIGHTS, dtype=x.dtype, device=x.device) if weights is None else weights
    codes = [ACTIVATIONS.index(a) for a in activations]
    n_in = x.shape[1]
    pop = [Genome.initial(n_in, n_out, p_connect=p_connect, generator=int(rng.integers(2**62)))
           for _ in range(pop_size)]
    n_elite = int(round(elite_ratio * pop_size))
    n_pool = max(1, int(round((1 - cull_ratio) * pop_size)))
    best, best_key, best_acc = None, None, None
    hist_mean, hist_max, hist_conn = [], [], []
    disable = None if progress is None else not progress
    for _ in _bar(range(n_generations), desc="wann_search", disable=disable):
        acc = torch.stack([_accuracy(g, x, y, w) for g in pop]).cpu().double().numpy()  # (P, K)
        mean, mx = acc.mean(1), acc.max(1)
        conn = np.array([max(g.n_connections, 1) for g in pop], dtype=float)
        for i in range(len(pop)):
            key = (mean[i], -conn[i])
            if best_key is None or key > best_key:
                best, best_key, best_acc = pop[i], key, acc[i]
        top = int(np.lexsort((conn, -mean))[0])
        hist_mean.append(float(mean[top]))
        hist_max.append(float(mx.max()))
        hist_conn.append(int(conn[top]))
        second = 1.0 / conn if rng.random() < p_connections else mx
        rank = _rank(np.column_stack([mean, second]))
        order = np.argsort(rank)
        pool = order[:n_pool]
        children = [pop[i] for i in order[:n_elite]]
        while len(children) < pop_size:
            entrants = rng.choice(pool, size=min(tournament_size, len(pool)), replace=False)
            parent = pop[int(entrants[np.argmin(rank[entrants])])]
            children.append(_mutate(parent, rng, probs, codes))
        pop = children
    return WANNSearchResult(best=best, population=pop, weights=w,
                            best_accuracy=torch.as_tensor(best_acc, dtype=x.dtype, device=x.device),
                            mean_accuracy=hist_mean, max_accuracy=hist_max, n_connections=hist_conn)
