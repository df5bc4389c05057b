r"""Voting rules on batches of ranked ballots.

A profile of ``n`` voters over ``m`` alternatives is an integer tensor ``rankings`` of shape
``(..., n, m)`` whose row ``rankings[..., i, :]`` lists voter ``i``'s alternatives best first (a
permutation of ``0..m-1``). Leading dimensions are independent elections (dilemmas), so a whole
experiment is one call. Ties between alternatives are broken towards the lower index, everywhere.
"""

from __future__ import annotations

import dataclasses
import itertools

import torch

from nips2019.utils import Options, Tensor, validate

#: The rules :func:`vote` knows, in the order :func:`agreement` reports them.
RULES = ("borda", "plurality", "copeland", "maximin", "kemeny")
MAX_KEMENY = 8  # 8! = 40320 orders


def _positions(rankings: torch.Tensor) -> torch.Tensor:
    """positions[..., i, a]: the place (0 = best) of alternative a on voter i's ballot."""
    return rankings.argsort(dim=-1)


def _check_permutations(rankings, func):
    m = rankings.shape[-1]
    ok = (rankings.sort(dim=-1).values == torch.arange(m, device=rankings.device)).all()
    if not bool(ok):
        raise ValueError(f"{func}: every row of rankings must be a permutation of 0..{m - 1}")


_RANKINGS = Tensor(shape=("...", "n", "m"), dtype="integer", low=0, high="m")


@validate(utilities=Tensor(shape=("...", "n", "m"), dtype="floating"))
def rankings_from_utilities(utilities):
    r"""Ballots from utilities: each voter ranks the alternatives by decreasing utility.

    Parameters
    ----------
    utilities : Tensor, shape (..., n, m)
        ``utilities[..., i, a]``: voter ``i``'s utility for alternative ``a``.

    Returns
    -------
    Tensor of int64, shape (..., n, m)
        Alternatives best first; equal utilities keep the lower index first.

    Examples
    --------
    >>> import torch
    >>> rankings_from_utilities(torch.tensor([[0.1, 0.9, 0.5]]))
    tensor([[1, 2, 0]])
    """
    return torch.sort(utilities, dim=-1, descending=True, stable=True).indices


@validate(rankings=_RANKINGS)
def pairwise_majority(rankings):
    r"""The pairwise-majority matrix :math:`N_{ab} = \#\{i : a \succ_i b\}`.

    Parameters
    ----------
    rankings : Tensor of int, shape (..., n, m)

    Returns
    -------
    Tensor of int64, shape (..., m, m)
        :math:`N_{ab} + N_{ba} = n` off the diagonal, zero on it.

    Examples
    --------
    >>> import torch
    >>> pairwise_majority(torch.tensor([[0, 1, 2], [1, 0, 2]]))
    tensor([[0, 1, 2],
            [1, 0, 2],
            [0, 0, 0]])
    """
    _check_permutations(rankings, "pairwise_majority")
    return _pairwise(rankings)


def _pairwise(rankings):
    pos = _positions(rankings)
    return (pos.unsqueeze(-1) < pos.unsqueeze(-2)).sum(dim=-3)


@dataclasses.dataclass
class VoteResult:
    """The outcome of :func:`vote`.

    Attributes
    ----------
    winner : Tensor of int64, shape (...)
        The winning alternative of each election (ties towards the lower index).
    scores : Tensor, shape (..., m)
        The rule's score of each alternative (for Kemeny: minus the position in the Kemeny
        ranking, so that the winner has the highest score).
    ranking : Tensor of int64, shape (..., m)
        All alternatives ordered by score (for Kemeny, the Kemeny ranking itself).
    rule : str
    """

    winner: torch.Tensor
    scores: torch.Tensor
    ranking: torch.Tensor
    rule: str


def _kemeny(N):
    m = N.shape[-1]
    perms = torch.tensor(list(itertools.permutations(range(m))), device=N.device)
    first = [k for k in range(m) for _ in range(k + 1, m)]
    second = [j for k in range(m) for j in range(k + 1, m)]
    a, b = perms[:, first], perms[:, second]  # (m!, m(m-1)/2): a placed before b
    agree = N[..., a, b].sum(dim=-1)  # (..., m!)
    best = agree.argmax(dim=-1)  # first maximum: lexicographically smallest order
    return perms[best], agree.max(dim=-1).values


def _scores(rankings, rule):
    n, m = rankings.shape[-2], rankings.shape[-1]
    if rule == "borda":
        return (m - 1 - _positions(rankings)).sum(dim=-2).to(torch.float64)
    if rule == "plurality":
        return torch.nn.functional.one_hot(rankings[..., 0], m).sum(dim=-2).to(torch.float64)
    N = _pairwise(rankings)
    if rule == "copeland":
        wins = (N > N.transpose(-1, -2)).sum(-1)
        ties = (N == N.transpose(-1, -2)).sum(-1) - 1  # minus the diagonal
        return wins.to(torch.float64) + 0.5 * ties.to(torch.float64)
    if rule == "maximin":
        eye = torch.eye(m, dtype=torch.bool, device=N.device)
        return N.masked_fill(eye, n + 1).min(dim=-1).values.to(torch.float64)
    raise ValueError(rule)


@validate(rankings=_RANKINGS, rule=Options(*RULES))
def vote(rankings, rule="borda"):
    r"""Elect an alternative from ranked ballots with a classic voting rule.

    With positions :math:`\mathrm{pos}_i(a) \in \{0, \dots, m-1\}` (0 = top) and the pairwise
    matrix :math:`N` (:func:`pairwise_majority`):

    - **Borda**: :math:`\sum_i (m - 1 - \mathrm{pos}_i(a))`;
    - **plurality**: the number of ballots with :math:`a` on top;
    - **Copeland**: pairwise wins plus half the pairwise ties;
    - **maximin** (Simpson): :math:`\min_{b \ne a} N_{ab}`;
    - **Kemeny**: the order maximising :math:`\sum_{a \text{ before } b} N_{ab}` (equivalently
      minimising the total Kendall-tau distance to the ballots), by brute force over the
      :math:`m!` orders, :math:`m \le 8`; its first alternative wins.

    Copeland, maximin and Kemeny are *pairwise-majority consistent*: they elect the Condorcet
    winner (:func:`condorcet_winner`) whenever there is one. Ties go to the lower index.

    Parameters
    ----------
    rankings : Tensor of int, shape (..., n, m)
        Ballots, best first; leading dimensions are separate elections.
    rule : {"borda", "plurality", "copeland", "maximin", "kemeny"}

    Returns
    -------
    VoteResult

    References
    ----------
    Brandt, Conitzer, Endriss, Lang & Procaccia (eds., 2016), *Handbook of Computational Social
    Choice*; see the chapter :doc:`Many agents </book/multiagent>`.

    Examples
    --------
    >>> import torch
    >>> ballots = torch.tensor([[0, 1, 2]] * 3 + [[1, 2, 0]] * 2)
    >>> vote(ballots, "plurality").winner, vote(ballots, "borda").winner
    (tensor(0), tensor(1))
    >>> vote(ballots, "kemeny").ranking
    tensor([0, 1, 2])
    """
    _check_permutations(rankings, "vote")
    m = rankings.shape[-1]
    if rule == "kemeny":
        if m > MAX_KEMENY:
            raise ValueError(f"vote: rule 'kemeny' is brute force over m! orders; rankings has m = {m} > "
                             f"{MAX_KEMENY} alternatives")
        order, _ = _kemeny(_pairwise(rankings))
        scores = -order.argsort(dim=-1).to(torch.float64)
        return VoteResult(order[..., 0], scores, order, rule)
    scores = _scores(rankings, rule)
    # stable descending sort: equal scores keep the lower index first
    order = torch.sort(scores, dim=-1, descending=True, stable=True).indices
    return VoteResult(order[..., 0], scores, order, rule)


@validate(rankings=_RANKINGS)
def condorcet_winner(rankings):
    r"""The alternative that beats every other one in a strict pairwise majority, or -1.

    Parameters
    ----------
    rankings : Tensor of int, shape (..., n, m)

    Returns
    -------
    Tensor of int64, shape (...)
        The Condorcet winner of each election, ``-1`` where there is none (a majority cycle or a
        pairwise tie).

    Examples
    --------
    >>> import torch
    >>> condorcet_winner(torch.tensor([[0, 1, 2], [1, 2, 0], [2, 0, 1]]))  # a cycle
    tensor(-1)
    >>> condorcet_winner(torch.tensor([[0, 1, 2], [1, 0, 2], [0, 2, 1]]))
    tensor(0)
    """
    _check_permutations(rankings, "condorcet_winner")
    N = _pairwise(rankings)
    m = N.shape[-1]
    beats = N > N.transpose(-1, -2)
    is_cw = beats.sum(-1) == m - 1
    idx = torch.arange(m, device=N.device)
    return torch.where(is_cw.any(-1), torch.where(is_cw, idx, m).min(-1).values, -1)


@validate(rankings=_RANKINGS, reference=Tensor(dtype="integer", low=0))
def kendall_tau_distance(rankings, reference):
    r"""Number of pairs of alternatives that two rankings order differently.

    Parameters
    ----------
    rankings : Tensor of int, shape (..., n, m)
        Ballots.
    reference : Tensor of int, shape (..., m)
        One order per election.

    Returns
    -------
    Tensor of int64, shape (..., n)
        :math:`d_K(\pi_i, \sigma) = \#\{\{a, b\} : \pi_i \text{ and } \sigma \text{ disagree}\}`.

    Examples
    --------
    >>> import torch
    >>> kendall_tau_distance(torch.tensor([[0, 1, 2], [2, 1, 0]]), torch.tensor([0, 1, 2]))
    tensor([0, 3])
    """
    if reference.shape != rankings.shape[:-2] + rankings.shape[-1:]:
        raise ValueError(f"kendall_tau_distance: reference must have shape {tuple(rankings.shape[:-2])} + (m,) "
                         f"with m = {rankings.shape[-1]} to match rankings {tuple(rankings.shape)}, "
                         f"got {tuple(reference.shape)}")
    if reference.device != rankings.device:
        raise ValueError("kendall_tau_distance: reference and rankings must be on the same device")
    _check_permutations(rankings, "kendall_tau_distance")
    _check_permutations(reference.unsqueeze(-2), "kendall_tau_distance (reference)")
    p = _positions(rankings)
    q = _positions(reference).unsqueeze(-2)
    disagree = ((p.unsqueeze(-1) < p.unsqueeze(-2)) != (q.unsqueeze(-1) < q.unsqueeze(-2)))
    return disagree.sum(dim=(-1, -2)) // 2

