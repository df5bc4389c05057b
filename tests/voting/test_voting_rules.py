"""Voting rules against naive loops, brute force and the axioms they are known to satisfy."""

import itertools

import pytest
import torch

from nips2019.voting import (
    RULES,
    condorcet_winner,
    kendall_tau_distance,
    pairwise_majority,
    rankings_from_utilities,
    vote,
)


def random_profiles(n_elections, n_voters, m, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.stack([torch.randperm(m, generator=g) for _ in range(n_voters)])
                        for _ in range(n_elections)])


def naive_scores(ballots, rule):
    """Loops over voters and pairs; ballots: list of lists, best first."""
    m = len(ballots[0])
    pos = [{a: k for k, a in enumerate(b)} for b in ballots]
    N = [[sum(p[a] < p[b] for p in pos) for b in range(m)] for a in range(m)]
    if rule == "borda":
        return [sum(m - 1 - p[a] for p in pos) for a in range(m)]
    if rule == "plurality":
        return [sum(b[0] == a for b in ballots) for a in range(m)]
    if rule == "copeland":
        return [sum(1.0 if N[a][b] > N[b][a] else 0.5 if N[a][b] == N[b][a] else 0.0
                    for b in range(m) if b != a) for a in range(m)]
    if rule == "maximin":
        return [min(N[a][b] for b in range(m) if b != a) for a in range(m)]
    raise ValueError(rule)


def naive_kendall(r1, r2):
    p1 = {a: k for k, a in enumerate(r1)}
    p2 = {a: k for k, a in enumerate(r2)}
    return sum((p1[a] < p1[b]) != (p2[a] < p2[b]) for a, b in itertools.combinations(range(len(r1)), 2))


def naive_winner(scores):
    best = max(scores)
    return scores.index(best)  # lowest index among ties


@pytest.mark.parametrize("rule", ["borda", "plurality", "copeland", "maximin"])
def test_scoring_rules_match_naive_loops(rule):
    profiles = random_profiles(40, 7, 4)
    res = vote(profiles, rule)
    for e in range(profiles.shape[0]):
        ballots = profiles[e].tolist()
        scores = naive_scores(ballots, rule)
        assert res.scores[e].tolist() == [float(s) for s in scores]
        assert int(res.winner[e]) == naive_winner(scores)


def test_kemeny_minimises_total_kendall_tau_by_brute_force():
    profiles = random_profiles(25, 6, 4, seed=1)
    res = vote(profiles, "kemeny")
    for e in range(profiles.shape[0]):
        ballots = profiles[e].tolist()
        costs = {perm: sum(naive_kendall(perm, b) for b in ballots) for perm in itertools.permutations(range(4))}
        best = min(costs.values())
        first_best = min(p for p, c in costs.items() if c == best)  # lexicographic tie-break
        assert tuple(res.ranking[e].tolist()) == first_best
        total = kendall_tau_distance(profiles[e], res.ranking[e]).sum()
        assert int(total) == best


def test_pairwise_majority_and_kendall_against_loops():
    profiles = random_profiles(10, 5, 5, seed=2)
    N = pairwise_majority(profiles)
    assert torch.equal(N + N.transpose(-1, -2), 5 * (1 - torch.eye(5, dtype=torch.long)).expand(10, 5, 5))
    ref = profiles[:, 0, :]
    d = kendall_tau_distance(profiles, ref)
    for e in range(10):
        for i in range(5):
            assert int(d[e, i]) == naive_kendall(profiles[e, i].tolist(), ref[e].tolist())


def test_pmc_rules_elect_the_condorcet_winner():
    profiles = random_profiles(300, 5, 4, seed=3)
    cw = condorcet_winner(profiles)
    has = cw >= 0
    assert 50 < int(has.sum()) < 300  # both cases occur
    for rule in ("copeland", "maximin", "kemeny"):
        assert torch.equal(vote(profiles, rule).winner[has], cw[has]), rule
    # Borda and plurality are not Condorcet consistent: both miss it somewhere
    for rule in ("borda", "plurality"):
        assert not torch.equal(vote(profiles, rule).winner[has], cw[has]), rule


def test_anonymity_pareto_and_neutrality():
    g = torch.Generator().manual_seed(4)
    u = torch.randn(200, 9, 5, generator=g, dtype=torch.float64)
    profiles = rankings_from_utilities(u)
    perm = torch.randperm(9, generator=g)
    relabel = torch.randperm(5, generator=g)  # alternative a is renamed relabel[a]
    renamed = relabel[profiles]
    for rule in RULES:
        res = vote(profiles, rule)
        assert torch.equal(res.winner, vote(profiles[:, perm], rule).winner), rule
        # Pareto: an alternative that every voter ranks below another never wins
        pos = profiles.argsort(-1)
        dominated = (pos.unsqueeze(-1) > pos.unsqueeze(-2)).all(dim=1).any(dim=-1)  # (elections, m)
        assert not dominated.gather(1, res.winner[:, None]).any(), rule
        # neutrality, where the winner is not decided by the tie-break
        if rule == "kemeny":
            N = pairwise_majority(profiles)
            orders = torch.tensor(list(itertools.permutations(range(5))))
            pairs = torch.tensor(list(itertools.combinations(range(5), 2)))
            agree = N[:, orders[:, pairs[:, 0]], orders[:, pairs[:, 1]]].sum(-1)  # (elections, 5!)
            best = agree == agree.max(-1, keepdim=True).values
            first = orders[:, 0].expand_as(best)
            clear = (torch.where(best, first, -1).max(-1).values
                     == torch.where(best, first, 99).min(-1).values)
        else:
            top2 = res.scores.topk(2, dim=-1).values
            clear = top2[:, 0] > top2[:, 1]
        assert torch.equal(relabel[res.winner][clear], vote(renamed, rule).winner[clear]), rule
        assert int(clear.sum()) > 100


def test_batched_equals_one_by_one():
    profiles = random_profiles(6, 5, 4, seed=5)
    for rule in RULES:
        batched = vote(profiles, rule).winner
        single = torch.stack([vote(p, rule).winner for p in profiles])
        assert torch.equal(batched, single), rule


def test_condorcet_examples_and_borda_disagreement():
    cycle = torch.tensor([[0, 1, 2], [1, 2, 0], [2, 0, 1]])
    assert int(condorcet_winner(cycle)) == -1
    ballots = torch.tensor([[0, 1, 2]] * 3 + [[1, 2, 0]] * 2)
    assert int(condorcet_winner(ballots)) == 0
    assert int(vote(ballots, "borda").winner) == 1 and int(vote(ballots, "copeland").winner) == 0


def test_bad_ballots():
    with pytest.raises(ValueError, match="permutation"):
        vote(torch.tensor([[0, 0, 1]]))
    with pytest.raises(ValueError, match="kemeny"):
        vote(random_profiles(1, 2, 9)[0], "kemeny")
    with pytest.raises(ValueError, match="rule"):
        vote(torch.tensor([[0, 1]]), "approval")
    with pytest.raises(TypeError, match="rankings"):
        vote(torch.tensor([[0.0, 1.0]]))
    with pytest.raises(ValueError, match="reference"):
        kendall_tau_distance(torch.tensor([[0, 1, 2]]), torch.tensor([0, 1]))


@pytest.mark.gpu
def test_gpu_rules():
    profiles = random_profiles(20, 7, 5, seed=6)
    for rule in RULES:
        res = vote(profiles.cuda(), rule)
        assert res.winner.device.type == "cuda"
        assert torch.equal(res.winner.cpu(), vote(profiles, rule).winner)
