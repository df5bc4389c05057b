"""A graph Hawkes model of a temporal knowledge graph: generator, exact likelihood, fit, ranking metrics."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from ..utils import Bool, Generator, InstanceOf, Integer, Items, Real, Tensor, as_generator, numpy_rng, validate
from ..utils._progress import progress as _progress


@dataclasses.dataclass
class TemporalKG:
    """Timestamped facts ``(subject, relation, object, time)`` of a temporal knowledge graph.

    Attributes
    ----------
    subjects, relations, objects : Tensor, shape (n,), int64
    times : Tensor, shape (n,)
        Sorted increasingly.
    n_entities, n_relations : int
    t_max : float
        End of the observation window ``[0, t_max]``.
    """

    subjects: torch.Tensor
    relations: torch.Tensor
    objects: torch.Tensor
    times: torch.Tensor
    n_entities: int
    n_relations: int
    t_max: float

    def __post_init__(self):
        n = len(self.times)
        for name in ("subjects", "relations", "objects"):
            v = getattr(self, name)
            if not isinstance(v, torch.Tensor) or v.dtype != torch.int64 or v.shape != (n,):
                raise ValueError(f"TemporalKG: {name} must be an int64 tensor of shape ({n},)")
        if n and (int(self.subjects.min()) < 0 or int(self.objects.min()) < 0 or int(self.relations.min()) < 0
                  or int(self.subjects.max()) >= self.n_entities or int(self.objects.max()) >= self.n_entities
                  or int(self.relations.max()) >= self.n_relations):
            raise ValueError("TemporalKG: an index is outside [0, n_entities) or [0, n_relations)")
        if n > 1 and bool((self.times.diff() < 0).any()):
            raise ValueError("TemporalKG: times must be sorted")
        if n and (float(self.times[0]) < 0 or float(self.times[-1]) > self.t_max):
            raise ValueError(f"TemporalKG: times must lie in [0, t_max = {self.t_max}]")

    def window(self, t_lo: float, t_hi: float) -> "TemporalKG":
        """The facts with ``t_lo <= time < t_hi``, on the window ``[0, t_hi]`` (times unchanged)."""
        sel = (self.times >= t_lo) & (self.times < t_hi)
        return TemporalKG(self.subjects[sel], self.relations[sel], self.objects[sel], self.times[sel],
                          self.n_entities, self.n_relations, float(t_hi))


@dataclasses.dataclass
class TemporalKGData:
    """A generated temporal knowledge graph and the parameters that produced it (see :func:`make_temporal_kg`).

    Attributes
    ----------
    graph : TemporalKG
    base : Tensor, shape (n_entities, n_relations, n_entities)
        The immigrant rate :math:`\\mu_{sro}` of every triple (0 on self-loops).
    repeat, reciprocal, decay : float
        The true excitation parameters (see :func:`graph_hawkes_intensity`).
    """

    graph: TemporalKG
    base: torch.Tensor
    repeat: float
    reciprocal: float
    decay: float


@validate(n_entities=Integer(low=2), n_relations=Integer(low=1), t_max=Real(low=0, closed="neither"),
          rate=Real(low=0, closed="neither"), n_preferred=Integer(low=1), repeat=Real(low=0),
          reciprocal=Real(low=0), decay=Real(low=0, closed="neither"), generator=Generator())
def make_temporal_kg(n_entities: int, n_relations: int, t_max: float, *, rate: float = 0.05, n_preferred: int = 3,
                     repeat: float = 0.4, reciprocal: float = 0.3, decay: float = 1.0,
                     generator=None) -> TemporalKGData:
    r"""Generate a temporal knowledge graph from a self-exciting process over its triples.

    Every triple :math:`(s, r, o)` with :math:`s \ne o` is one event type of a Hawkes process

    .. math::

        \lambda_{sro}(t) = \mu_{sro} + \sum_{t_k < t} \beta e^{-\beta (t - t_k)}
        \bigl(a\, \mathbf 1\{(s_k, r_k, o_k) = (s, r, o)\} + c\, \mathbf 1\{(s_k, r_k, o_k) = (o, r, s)\}\bigr):

    a fact makes itself likely to recur (``repeat`` :math:`= a` expected repeats) and makes its
    reversed fact likely (``reciprocal`` :math:`= c`: "A accuses B" is answered by "B accuses A").
    The immigrant rates are sparse: each pair :math:`(s, r)` prefers ``n_preferred`` random
    objects with Dirichlet(1) shares of the rate ``rate``. Simulated exactly by the cluster
    (branching) representation: immigrants are Poisson, each event has Poisson(:math:`a`) and
    Poisson(:math:`c`) children after Exp(:math:`\beta`) delays.

    Parameters
    ----------
    n_entities, n_relations : int
    t_max : float
    rate : float
        Immigrant rate per (subject, relation) pair.
    n_preferred : int
        Objects each pair prefers (at most ``n_entities - 1``).
    repeat, reciprocal : float
        Branching ratios, with ``repeat + reciprocal < 1`` (else ``ValueError``: explosive).
    decay : float
        :math:`\beta`.
    generator : None, int or torch.Generator

    Returns
    -------
    TemporalKGData
        The facts (times float64) and the true parameters.

    Notes
    -----
    See the chapter :doc:`Events with structure </book/events>`.

    References
    ----------
    Han, Ma, Wang, Günnemann & Tresp, *Graph Hawkes neural network for forecasting on temporal
    knowledge graphs*, AKBC 2020 (the model family this generator is a small instance of).

    Examples
    --------
    >>> data = make_temporal_kg(6, 2, 50.0, generator=0)
    >>> g = data.graph
    >>> bool((g.subjects != g.objects).all()), data.base.shape
    (True, torch.Size([6, 2, 6]))
    """
    if repeat + reciprocal >= 1:
        raise ValueError(f"make_temporal_kg: repeat + reciprocal = {repeat + reciprocal:.3f} >= 1: explosive")
    if n_preferred > n_entities - 1:
        raise ValueError(f"make_temporal_kg: n_preferred must be <= n_entities - 1 = {n_entities - 1}")
    rng = numpy_rng(generator)
    e, nr = n_entities, n_relations
    base = np.zeros((e, nr, e))
    for s in range(e):
        for r in range(nr):
            cand = np.array([o for o in range(e) if o != s])
            objs = rng.choice(cand, size=n_preferred, replace=False)
            base[s, r, objs] = rate * rng.dirichlet(np.ones(n_preferred))
    mu = base.ravel()
    n_imm = rng.poisson(mu * t_max)
    key = np.repeat(np.arange(mu.size), n_imm)
    t = rng.uniform(0, t_max, size=key.size)
    all_t, all_k = [t], [key]
    while key.size:
        s_, r_, o_ = np.unravel_index(key, (e, nr, e))
        rev = np.ravel_multi_index((o_, r_, s_), (e, nr, e))
        n1, n2 = rng.poisson(repeat, key.size), rng.poisson(reciprocal, key.size)
        ck = np.concatenate([np.repeat(key, n1), np.repeat(rev, n2)])
        ct = np.concatenate([np.repeat(t, n1), np.repeat(t, n2)]) + rng.exponential(1.0 / decay, n1.sum() + n2.sum())
        keep = ct < t_max
        key, t = ck[keep], ct[keep]
        all_t.append(t)
        all_k.append(key)
        if sum(len(a) for a in all_t) > 5_000_000:  # pragma: no cover - guarded by repeat + reciprocal < 1
            raise ValueError("make_temporal_kg: more than 5e6 facts")
    t, key = np.concatenate(all_t), np.concatenate(all_k)
    order = np.argsort(t, kind="stable")
    t, key = t[order], key[order]
    s_, r_, o_ = np.unravel_index(key, (e, nr, e))
    lt = lambda a: torch.as_tensor(np.asarray(a, dtype=np.int64))  # noqa: E731
    g = TemporalKG(lt(s_), lt(r_), lt(o_), torch.as_tensor(t, dtype=torch.float64), e, nr, float(t_max))
    return TemporalKGData(graph=g, base=torch.as_tensor(base), repeat=float(repeat), reciprocal=float(reciprocal),
                          decay=float(decay))


def _excitation(kg: TemporalKG, times, subjects, relations, decay, block=256):
    """(m, E) sums of beta exp(-beta (t - t_k)) over past facts: same (s, r) pair by object, and reversed."""
    e = kg.n_entities
    dtype = kg.times.dtype
    onehot_o = torch.nn.functional.one_hot(kg.objects, e).to(dtype)
    onehot_s = torch.nn.functional.one_hot(kg.subjects, e).to(dtype)
    outs_self, outs_rec = [], []
    for a in range(0, len(times), block):
        tq, sq, rq = times[a:a + block], subjects[a:a + block], relations[a:a + block]
        lag = tq[:, None] - kg.times[None, :]
        past = lag > 0
        w = torch.where(past, decay * torch.exp(-decay * lag.clamp_min(0)), lag.new_zeros(()))
        same_r = kg.relations[None, :] == rq[:, None]
        w_self = w * (same_r & (kg.subjects[None, :] == sq[:, None]))  # (s, r, o') facts
        w_rec = w * (same_r & (kg.objects[None, :] == sq[:, None]))  # (o', r, s) facts
        outs_self.append(w_self @ onehot_o)
        outs_rec.append(w_rec @ onehot_s)
    if not outs_self:
        z = kg.times.new_zeros(0, e)
        return z, z
    return torch.cat(outs_self), torch.cat(outs_rec)


_QUERY = dict(times=Tensor(shape=("m",), dtype="floating"), subjects=Tensor(shape=("m",), dtype="integer", low=0),
              relations=Tensor(shape=("m",), dtype="integer", low=0))


def _check_query(name, kg, times, subjects, relations):
    if int(subjects.max()) >= kg.n_entities:
        raise ValueError(f"{name}: subjects must be < n_entities = {kg.n_entities}")
    if int(relations.max()) >= kg.n_relations:
        raise ValueError(f"{name}: relations must be < n_relations = {kg.n_relations}")
    if times.dtype != kg.times.dtype or times.device != kg.times.device:
        raise ValueError(f"{name}: times has {times.dtype} on {times.device}, the graph's times have "
                         f"{kg.times.dtype} on {kg.times.device}: convert one")


@validate(history=InstanceOf(TemporalKG), base=Tensor(ndim=3, dtype="floating", low=0), repeat=Real(low=0),
          reciprocal=Real(low=0), decay=Real(low=0, closed="neither"), **_QUERY)
def graph_hawkes_intensity(history: TemporalKG, base: torch.Tensor, repeat: float, reciprocal: float, decay: float,
                           times: torch.Tensor, subjects: torch.Tensor, relations: torch.Tensor) -> torch.Tensor:
    r"""Intensities :math:`\lambda_{s r o}(t)` over every candidate object, for given (time, subject, relation).

    .. math::

        \lambda_{sro}(t) = \mu_{sro} + a \sum_{(s, r, o, t_k):\, t_k < t} \beta e^{-\beta(t - t_k)}
        + c \sum_{(o, r, s, t_k):\, t_k < t} \beta e^{-\beta(t - t_k)},

    the model of :func:`make_temporal_kg` with known parameters (the oracle of the chapter).

    Parameters
    ----------
    history : TemporalKG
        The facts; only those strictly before each query time count.
    base : Tensor, shape (n_entities, n_relations, n_entities)
        :math:`\mu_{sro} \ge 0`.
    repeat, reciprocal, decay : float
        :math:`a`, :math:`c`, :math:`\beta`.
    times : Tensor, shape (m,)
    subjects, relations : Tensor, shape (m,), int64

    Returns
    -------
    Tensor, shape (m, n_entities)

    Notes
    -----
    Dense in (queries x facts), in blocks of 256 queries. See the chapter
    :doc:`Events with structure </book/events>`.

    Examples
    --------
    >>> import torch
    >>> kg = TemporalKG(torch.tensor([0]), torch.tensor([0]), torch.tensor([1]), torch.tensor([1.0],
    ...                 dtype=torch.float64), 2, 1, 5.0)
    >>> lam = graph_hawkes_intensity(kg, torch.zeros(2, 1, 2, dtype=torch.float64), 0.5, 0.2, 1.0,
    ...                              torch.tensor([2.0], dtype=torch.float64), torch.tensor([1]), torch.tensor([0]))
    >>> round(lam[0, 0].item(), 6)  # the reversed fact (1, 0, 0) was excited by (0, 0, 1)
    0.073576
    """
    _check_query("graph_hawkes_intensity", history, times, subjects, relations)
    if tuple(base.shape) != (history.n_entities, history.n_relations, history.n_entities):
        raise ValueError(f"graph_hawkes_intensity: base must have shape "
                         f"{(history.n_entities, history.n_relations, history.n_entities)}, got {tuple(base.shape)}")
    ex_self, ex_rec = _excitation(history, times, subjects, relations, decay)
    return base[subjects, relations].to(times.dtype) + repeat * ex_self + reciprocal * ex_rec


def _pairs(kg: TemporalKG):
    """Index pairs (k, l), l < k, of facts on the same triple and on the reversed triple."""
    e, nr = kg.n_entities, kg.n_relations
    s, r, o = kg.subjects.cpu().numpy(), kg.relations.cpu().numpy(), kg.objects.cpu().numpy()
    key = (s * nr + r) * e + o
    rev = (o * nr + r) * e + s
    groups = {}
    for i, k in enumerate(key):
        groups.setdefault(int(k), []).append(i)
    same_k, same_l, rec_k, rec_l = [], [], [], []
    for k, idx in groups.items():
        idx = np.asarray(idx)
        kk, ll = np.meshgrid(idx, idx, indexing="ij")
        m = ll < kk
        same_k.append(kk[m])
        same_l.append(ll[m])
        rk = int(rev[idx[0]])
        if rk in groups and rk != k:
            other = np.asarray(groups[rk])
            kk, ll = np.meshgrid(idx, other, indexing="ij")
            m = ll < kk
            rec_k.append(kk[m])
            rec_l.append(ll[m])
    cat = lambda a: torch.as_tensor(np.concatenate(a) if a else np.zeros(0, np.int64), device=kg.times.device)  # noqa: E731
    return cat(same_k), cat(same_l), cat(rec_k), cat(rec_l)


class GraphHawkes(nn.Module):
    r"""A graph Hawkes model of a temporal knowledge graph, with an embedding base rate.

    .. math::

        \lambda_{sro}(t) = \exp\bigl(b + \langle u_s \odot w_r, v_o\rangle\bigr)
        + a_r \sum_{(s, r, o, t_k)} \beta e^{-\beta(t - t_k)}
        + c_r \sum_{(o, r, s, t_k)} \beta e^{-\beta(t - t_k)},

    with subject, relation and object embeddings :math:`u, w, v \in \mathbb R^{\text{dim}}`, and
    per-relation excitation weights :math:`a_r, c_r \ge 0` and a shared decay :math:`\beta > 0`
    (both through softplus). The base rate is the "neural" part (a bilinear score), the sums are
    the Hawkes part over the pair's own history and its graph neighbour (the reversed edge).
    With ``excitation=False`` only the static base rate remains (no temporal decay, no history).

    Parameters
    ----------
    n_entities, n_relations : int
    dim : int
        Embedding dimension.
    excitation : bool
        Keep the Hawkes terms.
    generator : None, int or torch.Generator
        Initialisation.
    dtype : torch.dtype

    Notes
    -----
    A much smaller relative of the Graph Hawkes Neural Network of Han et al. (2020): there a
    continuous-time LSTM summarises the history of each (s, r) pair and a neighbourhood
    aggregator the histories of related entities; here both are fixed exponential kernels
    with learned weights, which keeps the likelihood exact. See the chapter
    :doc:`Events with structure </book/events>`.

    Examples
    --------
    >>> model = GraphHawkes(5, 2, dim=4, generator=0)
    >>> model.base_rates().shape
    torch.Size([5, 2, 5])
    """

    @validate(n_entities=Integer(low=2), n_relations=Integer(low=1), dim=Integer(low=1), excitation=Bool(),
              generator=Generator(), dtype=InstanceOf(torch.dtype))
    def __init__(self, n_entities: int, n_relations: int, *, dim: int = 8, excitation: bool = True, generator=None,
                 dtype: torch.dtype = torch.float64):
        super().__init__()
        g = as_generator(generator)
        self.n_entities, self.n_relations, self.excitation = n_entities, n_relations, excitation
        init = lambda *shape: nn.Parameter(0.3 * torch.randn(*shape, generator=g, dtype=dtype))  # noqa: E731
        self.subject_emb, self.object_emb = init(n_entities, dim), init(n_entities, dim)
        self.relation_emb = nn.Parameter(1.0 + 0.3 * torch.randn(n_relations, dim, generator=g, dtype=dtype))
        self.bias = nn.Parameter(torch.tensor(-4.0, dtype=dtype))
        self.raw_repeat = nn.Parameter(torch.full((n_relations,), -1.0, dtype=dtype))
        self.raw_reciprocal = nn.Parameter(torch.full((n_relations,), -1.0, dtype=dtype))
        self.raw_decay = nn.Parameter(torch.tensor(0.5, dtype=dtype))

    def base_rates(self) -> torch.Tensor:
        """:math:`\\mu_{sro}`, shape (n_entities, n_relations, n_entities), 0 on self-loops."""
        score = torch.einsum("sd,rd,od->sro", self.subject_emb, self.relation_emb, self.object_emb)
        mask = 1 - torch.eye(self.n_entities, dtype=score.dtype, device=score.device)[:, None, :]
        return torch.exp(self.bias + score) * mask

    def excitation_parameters(self):
        """``(repeat (R,), reciprocal (R,), decay ())``: the softplus-transformed Hawkes weights."""
        sp = nn.functional.softplus
        return sp(self.raw_repeat), sp(self.raw_reciprocal), sp(self.raw_decay)

    @validate(kg=InstanceOf(TemporalKG))
    def log_likelihood(self, kg: TemporalKG, pairs=None) -> torch.Tensor:
        r"""Exact log-likelihood of the facts on ``[0, kg.t_max]``.

        .. math::

            \log L = \sum_k \log \lambda_{s_k r_k o_k}(t_k) - T \sum_{s \ne o, r} \mu_{sro}
            - \sum_k (a_{r_k} + c_{r_k}) \bigl(1 - e^{-\beta (T - t_k)}\bigr),

        since each fact excites exactly its own triple and its reversal. ``pairs`` (from a
        previous call's cache) may be passed to skip the grouping of facts by triple.
        """
        base = self.base_rates()
        s, r, o, t = kg.subjects, kg.relations, kg.objects, kg.times
        lam = base[s, r, o]
        comp = base.sum() * kg.t_max
        if self.excitation and len(t):
            a, c, beta = self.excitation_parameters()
            sk, sl, rk, rl = _pairs(kg) if pairs is None else pairs
            ex = torch.zeros_like(lam).index_add(0, sk, a[r[sk]] * beta * torch.exp(-beta * (t[sk] - t[sl])))
            ex = ex.index_add(0, rk, c[r[rk]] * beta * torch.exp(-beta * (t[rk] - t[rl])))
            lam = lam + ex
            comp = comp + ((a[r] + c[r]) * (1 - torch.exp(-beta * (kg.t_max - t)))).sum()
        return torch.log(lam.clamp_min(torch.finfo(lam.dtype).tiny)).sum() - comp

    @validate(history=InstanceOf(TemporalKG), **_QUERY)
    def intensity(self, history: TemporalKG, times: torch.Tensor, subjects: torch.Tensor,
                  relations: torch.Tensor) -> torch.Tensor:
        """Intensities over all candidate objects, shape (m, n_entities), given the facts before each time."""
        _check_query("GraphHawkes.intensity", history, times, subjects, relations)
        base = self.base_rates()[subjects, relations]
        if not self.excitation:
            return base
        a, c, beta = self.excitation_parameters()
        ex_self, ex_rec = _excitation(history, times, subjects, relations, beta)
        return base + a[relations][:, None] * ex_self + c[relations][:, None] * ex_rec


@dataclasses.dataclass
class GraphHawkesFit:
    """A trained :class:`GraphHawkes` (see :func:`fit_graph_hawkes`).

    Attributes
    ----------
    model : GraphHawkes
    losses : list of float
        Negative log-likelihood per fact, after each step.
    """

    model: GraphHawkes
    losses: list


@validate(kg=InstanceOf(TemporalKG), dim=Integer(low=1), excitation=Bool(), n_steps=Integer(low=1),
          lr=Real(low=0, closed="neither"), generator=Generator(), progress=Bool(optional=True))
def fit_graph_hawkes(kg: TemporalKG, *, dim: int = 8, excitation: bool = True, n_steps: int = 300, lr: float = 0.05,
                     generator=None, progress: bool | None = None) -> GraphHawkesFit:
    r"""Fit a :class:`GraphHawkes` by maximum likelihood (full-batch Adam on the exact log-likelihood).

    Parameters
    ----------
    kg : TemporalKG
        Training facts on ``[0, kg.t_max]``.
    dim : int
        Embedding dimension.
    excitation : bool
        ``False`` fits the static base rate only (the no-history baseline).
    n_steps, lr
        Adam steps and learning rate.
    generator : None, int or torch.Generator
        Initialisation.
    progress : bool, optional

    Returns
    -------
    GraphHawkesFit
        The model (dtype of ``kg.times``) and the loss curve.

    Notes
    -----
    See the chapter :doc:`Events with structure </book/events>`.

    Examples
    --------
    >>> data = make_temporal_kg(6, 1, 100.0, generator=0)
    >>> fit = fit_graph_hawkes(data.graph, dim=4, n_steps=20, generator=0)
    >>> fit.losses[-1] < fit.losses[0]
    True
    """
    if len(kg.times) < 2:
        raise ValueError(f"fit_graph_hawkes: kg has {len(kg.times)} facts; at least 2 are needed")
    model = GraphHawkes(kg.n_entities, kg.n_relations, dim=dim, excitation=excitation, generator=generator,
                        dtype=kg.times.dtype).to(kg.times.device)
    pairs = _pairs(kg) if excitation else None
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = len(kg.times)
    losses = []
    for _ in _progress(range(n_steps), desc="fit_graph_hawkes", disable=None if progress is None else not progress):
        opt.zero_grad()
        loss = -model.log_likelihood(kg, pairs) / n
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return GraphHawkesFit(model=model, losses=losses)


@validate(history=InstanceOf(TemporalKG), **_QUERY)
def frequency_scores(history: TemporalKG, times: torch.Tensor, subjects: torch.Tensor,
                     relations: torch.Tensor) -> torch.Tensor:
    """Counts of each object after the pair ``(s, r)`` among the facts before each time (no decay).

    The static baseline of temporal knowledge-graph forecasting: rank objects by how often the
    pair has pointed at them so far.

    Parameters
    ----------
    history : TemporalKG
    times : Tensor, shape (m,)
    subjects, relations : Tensor, shape (m,), int64

    Returns
    -------
    Tensor, shape (m, n_entities)

    Notes
    -----
    See the chapter :doc:`Events with structure </book/events>`.

    Examples
    --------
    >>> import torch
    >>> kg = TemporalKG(torch.tensor([0, 0]), torch.tensor([0, 0]), torch.tensor([1, 1]),
    ...                 torch.tensor([1.0, 2.0], dtype=torch.float64), 3, 1, 5.0)
    >>> frequency_scores(kg, torch.tensor([3.0], dtype=torch.float64), torch.tensor([0]), torch.tensor([0]))
    tensor([[0., 2., 0.]], dtype=torch.float64)
    """
    _check_query("frequency_scores", history, times, subjects, relations)
    onehot = torch.nn.functional.one_hot(history.objects, history.n_entities).to(times.dtype)
    out = []
    for a in range(0, len(times), 256):
        tq, sq, rq = times[a:a + 256], subjects[a:a + 256], relations[a:a + 256]
        m = ((history.times[None, :] < tq[:, None]) & (history.subjects[None, :] == sq[:, None])
             & (history.relations[None, :] == rq[:, None])).to(times.dtype)
        out.append(m @ onehot)
    return torch.cat(out) if out else times.new_zeros(0, history.n_entities)


@dataclasses.dataclass
class RankingResult:
    """Link-prediction metrics (see :func:`ranking_metrics`).

    Attributes
    ----------
    ranks : Tensor, shape (m,)
        The rank of the true object (1 is best; ties count half).
    mrr : float
        Mean reciprocal rank.
    hits : dict
        ``{k: share of ranks <= k}``.
    """

    ranks: torch.Tensor
    mrr: float
    hits: dict


@validate(scores=Tensor(shape=("m", "e"), dtype="floating"), targets=Tensor(shape=("m",), dtype="integer", low=0,
                                                                          high="e"),
          ks=Items(Integer(low=1), min_length=1))
def ranking_metrics(scores: torch.Tensor, targets: torch.Tensor, *, ks=(1, 3, 10)) -> RankingResult:
    r"""Mean reciprocal rank and Hits@k of the true objects under candidate scores.

    The rank of the target is :math:`1 + \#\{o: s_o > s_{\text{target}}\} +
    \tfrac12 \#\{o \ne \text{target}: s_o = s_{\text{target}}\}` (ties split evenly, so a
    constant score ranks every target in the middle instead of first); MRR is the mean of
    :math:`1/\text{rank}`, Hits@k the share of ranks :math:`\le k`. Raw ranks: other true
    objects of the same query are not filtered out.

    Parameters
    ----------
    scores : Tensor, shape (m, n_candidates)
    targets : Tensor, shape (m,), int64
    ks : tuple of int

    Returns
    -------
    RankingResult

    Notes
    -----
    See the chapter :doc:`Events with structure </book/events>`.

    Examples
    --------
    >>> import torch
    >>> r = ranking_metrics(torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.5, 0.0]]), torch.tensor([1, 0]), ks=(1,))
    >>> r.ranks.tolist(), round(r.mrr, 4), r.hits[1]
    ([1.0, 1.5], 0.8333, 0.5)
    """
    tgt = scores.gather(1, targets[:, None])
    ranks = 1 + (scores > tgt).sum(1).to(scores.dtype) + 0.5 * ((scores == tgt).sum(1) - 1).to(scores.dtype)
    return RankingResult(ranks=ranks, mrr=float((1 / ranks).mean()), hits={k: float((ranks <= k).to(
        scores.dtype).mean()) for k in ks})
