"""Multi-player bandits with collisions: SIC-MMAB (simplified), independent UCB players, centralised play."""

from __future__ import annotations

import dataclasses
import math

import torch

from ..utils import Bool, Generator, Integer, Real, Tensor, as_generator, rand, validate
from ..utils import progress as _progress_bar


@dataclasses.dataclass
class MultiplayerResult:
    """Pseudo-regret of ``n_players`` players sharing a K-armed Bernoulli bandit.

    Attributes
    ----------
    regret : Tensor, shape (R,)
        :math:`T \\sum_{k \\le M} \\mu_{(k)}` minus the expected reward the players collected
        (a collision pays nothing to anyone on that arm).
    collisions : Tensor, shape (R,)
        Player-steps that ended in a collision (for ``sic_mmab``: those of the
        musical-chairs start only; communication collisions are charged in ``regret``).
    init_steps, comm_steps : Tensor or None, shape (R,)
        For ``sic_mmab``: steps spent on the start (musical chairs and rank estimation)
        and on communication.
    accepted : Tensor or None, shape (R, K), bool
        For ``sic_mmab``: the arms the players ended up exploiting.
    """

    regret: torch.Tensor
    collisions: torch.Tensor
    init_steps: torch.Tensor | None = None
    comm_steps: torch.Tensor | None = None
    accepted: torch.Tensor | None = None


def _check(name, means, n_players, horizon):
    k = means.shape[0]
    if n_players > k:
        raise ValueError(f"{name}: n_players must be <= K = {k}, got {n_players}")
    if bool(((means < 0) | (means > 1)).any()):
        raise ValueError(f"{name}: means must lie in [0, 1] (Bernoulli arms)")
    return k


@validate(
    means=Tensor(ndim=1, dtype="floating", low=0, high=1),
    n_players=Integer(low=1),
    horizon=Integer(low=2),
    n_replications=Integer(low=1),
    width=Real(low=0, closed="neither"),
    generator=Generator(),
)
def sic_mmab(means, n_players, horizon, n_replications, *, width=3.0, generator=None) -> MultiplayerResult:
    r"""SIC-MMAB of Boursier & Perchet (2019), simplified, vectorised over replications.

    The players share no channel except collisions. The algorithm

    1. **starts** with musical chairs for :math:`T_0 = \lceil K \log T \rceil` steps (each
       player not yet settled picks a uniformly random arm and settles where it did not
       collide; a player still unsettled afterwards keeps trying), then spends
       :math:`2K` steps learning :math:`M` and its rank from collisions;
    2. **explores** in phases :math:`p = 1, 2, \dots`: the :math:`M_p` players still exploring
       hop in lockstep over the :math:`K_p` active arms, so each arm gets
       :math:`M_p 2^p` collision-free pulls in :math:`K_p 2^p` steps;
    3. **communicates**: every exploring player sends every other one its statistic of
       every active arm with :math:`p + 1` bits, one bit per step, a collision meaning 1:
       :math:`M_p (M_p - 1) K_p (p + 1)` steps;
    4. **accepts** an active arm when its lower confidence bound beats the upper bound of
       :math:`K_p - M_p` other active arms (a player then exploits it for good) and
       **rejects** it when :math:`M_p` arms beat it, with widths
       :math:`3\sqrt{\log T / (2 n)}` for :math:`n` pooled pulls.

    **What is simplified.** Phases are simulated at phase level, not step by step: an
    exploration phase's reward is its expectation and its pooled statistics are drawn
    as binomials; the statistics are shared exactly, not quantised to :math:`p + 1` bits
    (the paper shows the quantisation changes the bounds by a constant); the
    rank-estimation and communication steps are charged as if the exploring players
    earned nothing (an upper bound on their cost: bits 0 are sent without collision in
    the paper). Musical chairs is simulated step by step with real collisions.

    Parameters
    ----------
    means : Tensor, shape (K,)
        Bernoulli arm means in [0, 1]; dtype and device are used throughout.
    n_players : int
        :math:`M \le K`.
    horizon : int
        :math:`T`.
    n_replications : int
    width : float
        The constant :math:`c` of the confidence widths.
    generator : None, int or torch.Generator

    Returns
    -------
    MultiplayerResult

    References
    ----------
    Boursier & Perchet (2019), *SIC-MMAB: synchronisation involves communication in
    multiplayer multi-armed bandits*, NeurIPS.

    Notes
    -----
    See the chapter :doc:`Bandits </book/bandits>`.

    Examples
    --------
    >>> import torch
    >>> res = sic_mmab(torch.tensor([0.9, 0.8, 0.5, 0.2]), 2, 20_000, 8, generator=0)
    >>> bool((res.accepted.sum(1) == 2).all()), res.regret.shape
    (True, torch.Size([8]))
    """
    k = _check("sic_mmab", means, n_players, horizon)
    g = as_generator(generator)
    dev, dt = means.device, means.dtype
    r, m = n_replications, n_players
    top = means.sort(descending=True).values[:m].sum()
    rows = torch.arange(r, device=dev)
    # 1. musical chairs, with real collisions
    t0 = math.ceil(k * math.log(horizon))
    arm = torch.zeros(r, m, device=dev, dtype=torch.long)
    fixed = torch.zeros(r, m, device=dev, dtype=torch.bool)
    regret = torch.zeros(r, device=dev, dtype=dt)
    collisions = torch.zeros(r, device=dev, dtype=dt)
    steps = 0
    while steps < horizon and (steps < t0 or not bool(fixed.all())):
        pick = (rand(r, m, generator=g, device=dev, dtype=dt) * k).long().clamp(max=k - 1)
        arm = torch.where(fixed, arm, pick)
        occ = torch.zeros(r, k, device=dev, dtype=dt).scatter_add_(1, arm, torch.ones(r, m, device=dev, dtype=dt))
        alone = occ.gather(1, arm) == 1
        fixed = fixed | alone
        collisions += (~alone).sum(1).to(dt)
        regret += top - ((occ == 1).to(dt) * means).sum(1)
        steps += 1
    init = torch.full((r,), float(steps), device=dev, dtype=dt)
    # rank estimation: 2K steps, charged in full
    est = min(2 * k, horizon - steps)
    regret += est * top
    clock = torch.full((r,), float(steps + est), device=dev, dtype=dt)
    init += est
    # 2.-4. phases
    active = torch.ones(r, k, device=dev, dtype=torch.bool)
    accepted = torch.zeros(r, k, device=dev, dtype=torch.bool)
    counts = torch.zeros(r, k, device=dev, dtype=dt)
    sums = torch.zeros_like(counts)
    comm = torch.zeros(r, device=dev, dtype=dt)
    log_t = math.log(horizon)
    p = 0
    while bool((clock < horizon).any()):
        p += 1
        m_p = (m - accepted.sum(1)).to(dt)
        k_p = active.sum(1).to(dt)
        exploring = (m_p > 0) & (clock < horizon)
        acc_sum = (accepted.to(dt) * means).sum(1)
        length = torch.where(exploring, k_p * 2.0**p, torch.zeros_like(k_p))
        left = horizon - clock
        done_steps = torch.minimum(length, left)
        frac = torch.where(length > 0, done_steps / length.clamp(min=1), torch.zeros_like(length))
        explore_reward = frac * 2.0**p * m_p * (active.to(dt) * means).sum(1)
        regret += done_steps * (top - acc_sum) - explore_reward
        complete = exploring & (length <= left)
        n_new = (complete.to(dt) * m_p * 2.0**p).unsqueeze(1) * active.to(dt)
        draws = torch.binomial(n_new.cpu().double(), means.cpu().double().expand(r, k), generator=g)
        counts += n_new
        sums += draws.to(device=dev, dtype=dt)
        clock = clock + done_steps
        # communication
        c_len = torch.where(complete, m_p * (m_p - 1) * k_p * (p + 1), torch.zeros_like(m_p))
        c_steps = torch.minimum(c_len, horizon - clock)
        regret += c_steps * (top - acc_sum)
        comm += c_steps
        clock = clock + c_steps
        # accept / reject on the pooled statistics
        half = width * (log_t / (2 * counts.clamp(min=1))).sqrt()
        mean = sums / counts.clamp(min=1)
        lcb, ucb = mean - half, mean + half
        pair = active.unsqueeze(1) & active.unsqueeze(2)  # [r, i, j]: both active
        beats_me = (pair & (lcb.unsqueeze(1) >= ucb.unsqueeze(2))).sum(2)  # arms j whose lcb >= my ucb
        i_beat = (pair & (lcb.unsqueeze(2) >= ucb.unsqueeze(1))).sum(2)  # arms j whose ucb <= my lcb
        update = complete.unsqueeze(1) & active
        acc = update & ((i_beat >= (k_p - m_p).unsqueeze(1)) | (k_p == m_p).unsqueeze(1))
        rej = update & ~acc & (beats_me >= m_p.unsqueeze(1))
        accepted = accepted | acc
        active = active & ~acc & ~rej
        # players with nothing left to explore exploit their arm until the end
        finished = (m - accepted.sum(1)) == 0
        if bool(finished.any()):
            clock = torch.where(finished, torch.full_like(clock, float(horizon)), clock)
        if p > 64:  # pragma: no cover - 2^64 steps
            break
    return MultiplayerResult(regret=regret, collisions=collisions, init_steps=init, comm_steps=comm,
                             accepted=accepted)


def _step_players(means, n_players, horizon, n_replications, generator, progress, centralised, desc):
    k = means.shape[0]
    g = as_generator(generator)
    dev, dt = means.device, means.dtype
    r, m = n_replications, n_players
    top = means.sort(descending=True).values[:m].sum()
    counts = torch.zeros(r, m, k, device=dev, dtype=dt)
    sums = torch.zeros_like(counts)
    regret = torch.zeros(r, device=dev, dtype=dt)
    collisions = torch.zeros(r, device=dev, dtype=dt)
    ones = torch.ones(r, m, device=dev, dtype=dt)
    for t in _progress_bar(range(horizon), desc=desc, disable=None if progress is None else not progress):
        u = rand(r, m, generator=g, device=dev, dtype=dt)
        if centralised:
            c, s = counts[:, 0], sums[:, 0]
            index = torch.where(c > 0, s / c.clamp(min=1) + (2 * math.log(t + 1) / c.clamp(min=1)).sqrt(),
                                torch.full_like(c, math.inf))
            # ties (unpulled arms) broken by index order, which pulls every arm once
            arm = index.topk(m, dim=1).indices
        else:
            # ties broken at random (identical deterministic players would otherwise collide forever):
            # unpulled arms score 100 + U(0, 1), pulled ones their index + 1e-7 U(0, 1)
            tie = rand(r, m, k, generator=g, device=dev, dtype=dt)
            index = torch.where(counts > 0, sums / counts.clamp(min=1)
                                + (2 * math.log(t + 1) / counts.clamp(min=1)).sqrt() + 1e-7 * tie, 100 + tie)
            arm = index.argmax(2)
        occ = torch.zeros(r, k, device=dev, dtype=dt).scatter_add_(1, arm, ones)
        alone = occ.gather(1, arm) == 1
        y = alone.to(dt) * (u < means[arm]).to(dt)
        regret += top - ((occ == 1).to(dt) * means).sum(1)
        collisions += (~alone).sum(1).to(dt)
        if centralised:
            counts[:, 0].scatter_add_(1, arm, ones)
            sums[:, 0].scatter_add_(1, arm, y)
        else:
            counts.scatter_add_(2, arm.unsqueeze(-1), ones.unsqueeze(-1))
            sums.scatter_add_(2, arm.unsqueeze(-1), y.unsqueeze(-1))
    return MultiplayerResult(regret=regret, collisions=collisions)


@validate(
    means=Tensor(ndim=1, dtype="floating", low=0, high=1),
    n_players=Integer(low=1),
    horizon=Integer(low=2),
    n_replications=Integer(low=1),
    generator=Generator(),
    progress=Bool(optional=True),
)
def independent_ucb_players(means, n_players, horizon, n_replications, *, generator=None,
                            progress=None) -> MultiplayerResult:
    r"""Each player runs UCB1 on its own observations, unaware of the others.

    Player :math:`i` pulls :math:`\arg\max_k \bar Y_{ik} + \sqrt{2\log t / n_{ik}}` (every
    arm once first); a collision pays 0 and is recorded by the colliding players as a
    reward of 0; ties (the arms not yet pulled) are broken at random, so the players'
    data differ. Without coordination the players chase the same good arms: the
    baseline that :func:`sic_mmab` beats.

    Parameters
    ----------
    means : Tensor, shape (K,)
        Bernoulli arm means in [0, 1].
    n_players : int
        :math:`M \le K`.
    horizon : int
    n_replications : int
    generator : None, int or torch.Generator
    progress : bool, optional

    Returns
    -------
    MultiplayerResult

    Notes
    -----
    See the chapter :doc:`Bandits </book/bandits>`.

    Examples
    --------
    >>> import torch
    >>> res = independent_ucb_players(torch.tensor([0.9, 0.8, 0.2]), 2, 200, 4, generator=0)
    >>> bool((res.collisions > 0).all())
    True
    """
    _check("independent_ucb_players", means, n_players, horizon)
    return _step_players(means, n_players, horizon, n_replications, generator, progress, False, "independent UCB")


@validate(
    means=Tensor(ndim=1, dtype="floating", low=0, high=1),
    n_players=Integer(low=1),
    horizon=Integer(low=2),
    n_replications=Integer(low=1),
    generator=Generator(),
    progress=Bool(optional=True),
)
def centralized_ucb(means, n_players, horizon, n_replications, *, generator=None, progress=None) -> MultiplayerResult:
    r"""A central controller pulls the :math:`M` arms of largest UCB index each step (no collisions).

    The index is :math:`\bar Y_k + \sqrt{2\log t / n_k}` on the pooled data (multiple-play
    UCB). This is the reference a decentralised algorithm such as :func:`sic_mmab` tries to
    approach.

    Parameters
    ----------
    means : Tensor, shape (K,)
        Bernoulli arm means in [0, 1].
    n_players : int
        :math:`M \le K`.
    horizon : int
    n_replications : int
    generator : None, int or torch.Generator
    progress : bool, optional

    Returns
    -------
    MultiplayerResult

    Notes
    -----
    See the chapter :doc:`Bandits </book/bandits>`.

    Examples
    --------
    >>> import torch
    >>> res = centralized_ucb(torch.tensor([0.9, 0.8, 0.2]), 2, 200, 4, generator=0)
    >>> res.collisions.tolist()
    [0.0, 0.0, 0.0, 0.0]
    """
    _check("centralized_ucb", means, n_players, horizon)
    return _step_players(means, n_players, horizon, n_replications, generator, progress, True, "centralised UCB")
