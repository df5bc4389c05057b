"""Contract cases for nips2019.rl (see tests/contract.py)."""

import torch

from nips2019 import rl
from tests.contract import Bad, Case, check_case, contract_params


def _chain():
    return rl.chain_mdp(4)


def _uniform(n_s, n_a=2):
    return torch.full((n_s, n_a), 1.0 / n_a, dtype=torch.float64)


def _ring():
    p = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [0.5, 0.0, 0.5]], dtype=torch.float64)
    e = torch.tensor([[0.8, 0.2], [0.5, 0.5], [0.2, 0.8]], dtype=torch.float64)
    return p, e, torch.full((3,), 1 / 3, dtype=torch.float64)


def _mdp_args():
    m = _chain()
    return dict(transitions=m.transitions, rewards=m.rewards)


def _not_stochastic():
    m = _chain()
    return m.transitions * 2


CASES = [
    Case(rl.chain_mdp, lambda: dict(n_states=4, slip=0.1, goal_reward=1.0, step_reward=0.0),
         bad=[Bad(dict(slip=1.5), "slip", why="probability above 1")]),
    Case(rl.grid_mdp, lambda: dict(layout=["###", "# #", "# #", "###"], goal=1, slip=0.0, goal_reward=1.0),
         bad=[Bad(dict(goal=5), "goal must be < n_states = 2", why="goal outside the grid")]),
    Case(rl.policy_evaluation, lambda: dict(**_mdp_args(), policy=_uniform(4), gamma=0.9),
         bad=[Bad(dict(transitions=_not_stochastic()), "rows of transitions must sum to 1",
                  why="not a distribution")]),
    Case(rl.value_iteration, lambda: dict(**_mdp_args(), gamma=0.9, tol=1e-8, max_iter=100),
         bad=[Bad(dict(gamma=1.0), "gamma", why="no discount: no contraction")]),
    Case(rl.successor_representation, lambda: dict(transition_matrix=_ring()[0], gamma=0.5),
         bad=[Bad(dict(transition_matrix=-_ring()[0]), "non-negative", why="negative probabilities")]),
    Case(rl.sample_trajectories,
         lambda: dict(**_mdp_args(), policy=_uniform(4), start=_chain().start, terminal=_chain().terminal,
                      n_episodes=2, n_steps=3, reward_noise=0.1, generator=0),
         bad=[Bad(dict(policy=_uniform(4) * 3), "rows of policy must sum to 1", why="policy not normalised")]),
    Case(rl.td_successor, lambda: dict(states=torch.tensor([[0, 1, 2, 0]]), n_states=3, gamma=0.5, lr=0.1,
                                       n_epochs=1, progress=False),
         bad=[Bad(dict(states=torch.tensor([[0, 3]])), "states", why="a state index out of range")]),
    Case(rl.sample_hmm, lambda: dict(transition_matrix=_ring()[0], emission=_ring()[1], prior=_ring()[2],
                                     n_episodes=2, n_steps=3, generator=0),
         bad=[Bad(dict(emission=_ring()[1] * 2), "rows of emission must sum to 1", why="emission not normalised")]),
    Case(rl.belief_filter, lambda: dict(observations=torch.tensor([[0, 1, 1]]), transition_matrix=_ring()[0],
                                        emission=_ring()[1], prior=_ring()[2]),
         bad=[Bad(dict(observations=torch.tensor([[0, 2]])), "observations", why="unknown observation")]),
    Case(rl.td_successor_features, lambda: dict(features=torch.rand(2, 4, 3, dtype=torch.float64), gamma=0.5,
                                                lr=0.1, n_epochs=1, progress=False),
         bad=[Bad(dict(features=torch.rand(2, 1, 3, dtype=torch.float64)), "at least 2 time steps",
                  why="no transition")]),
    Case(rl.q_learning, lambda: dict(**_mdp_args(), features=torch.eye(4, dtype=torch.float64), gamma=0.5,
                                     mapping="log", terminal=_chain().terminal, lr=0.5, lr_reg=1.0, n_steps=3,
                                     batch_size=4, c=0.5, offset_power=100.0, generator=0, progress=False),
         bad=[Bad(dict(terminal=torch.ones(4, dtype=torch.bool)), "every state is terminal",
                  why="nothing to learn")]),
    Case(rl.success_probability, lambda: dict(transitions=_chain().transitions, policy=_uniform(4),
                                              terminal=_chain().terminal, horizon=3),
         bad=[Bad(dict(policy=_uniform(4) + 1), "rows of policy must sum to 1", why="policy not normalised")]),
    Case(rl.delayed_effect_mdp, lambda: dict(length=2, final_reward=1.0),
         bad=[Bad(dict(length=0), "length", why="no corridor")]),
    Case(rl.hindsight_distribution, lambda: dict(transitions=_chain().transitions, policy=_uniform(4),
                                                 gamma=0.9),
         bad=[Bad(dict(gamma=1.0), "gamma", why="undiscounted occupancy diverges")]),
    Case(rl.exact_policy_gradient, lambda: dict(**_mdp_args(), logits=torch.zeros(4, 2, dtype=torch.float64),
                                                start=_chain().start, gamma=0.9),
         bad=[Bad(dict(start=_chain().start * 2), "rows of start must sum to 1", why="start not a distribution")]),
    Case(rl.policy_gradient_samples,
         lambda: dict(**_mdp_args(), logits=torch.zeros(4, 2, dtype=torch.float64), start=_chain().start,
                      gamma=0.9, estimator="state_hca", terminal=_chain().terminal, n_episodes=3, n_steps=4,
                      reward_noise=0.1, generator=0),
         bad=[Bad(dict(transitions=_not_stochastic()), "rows of transitions must sum to 1",
                  why="not a distribution")]),
    Case(rl.goal_switching, lambda: dict(transitions=rl.grid_mdp(["####", "#  #", "####"]).transitions,
                                         schedule=[0, 1], agent="inferred_maps", n_agents=2, n_steps=3, gamma=0.9,
                                         lr=0.3, lr_reward=0.5, epsilon=0.1, n_maps=2, reward_noise=0.0,
                                         switch_prob=0.01, generator=0, progress=False),
         bad=[Bad(dict(schedule=[0, 2]), "schedule entries must be < n_states = 2", why="goal outside the world")]),
    Case(rl.primitive_options, lambda: dict(n_states=3, n_actions=2, dtype=torch.float64),
         bad=[Bad(dict(n_actions=0), "n_actions", why="no action")]),
    Case(rl.subgoal_options, lambda: dict(transitions=_chain().transitions, targets=[2],
                                          regions=torch.ones(1, 4, dtype=torch.bool), gamma=0.9),
         bad=[Bad(dict(targets=[2, 1]), "one row per target", why="regions and targets disagree"),
              Bad(dict(regions=torch.tensor([[False, False, True, False]])), "no state other than its target",
                  why="empty region")]),
    Case(rl.hallway_options, lambda: dict(transitions=rl.grid_mdp(["#####", "# # #", "#   #", "#####"]).transitions,
                                          hallways=[3], gamma=0.9),
         bad=[Bad(dict(hallways=[9]), "hallways must be < n_states", why="hallway outside the world")]),
    Case(rl.option_models, lambda: dict(**_mdp_args(), options=rl.primitive_options(4, 2), gamma=0.9,
                                        terminal=_chain().terminal),
         bad=[Bad(dict(options=rl.primitive_options(3, 2)), "options.policy must have shape",
                  why="options of another MDP")]),
    Case(rl.smdp_value_iteration, lambda: dict(option_rewards=_chain().rewards.T.contiguous(),
                                               option_transitions=0.9 * _chain().transitions.permute(1, 0, 2).contiguous(),
                                               initiation=torch.ones(2, 4, dtype=torch.bool),
                                               terminal=_chain().terminal, tol=1e-8, max_iter=100),
         bad=[Bad(dict(option_transitions=_chain().transitions.permute(1, 0, 2).contiguous()), "must be discounted",
                  why="undiscounted model: no contraction")]),
    Case(rl.sample_option_rollouts, lambda: dict(**_mdp_args(), options=rl.primitive_options(4, 2), option=1,
                                                 state=0, gamma=0.9, terminal=_chain().terminal, n_episodes=3,
                                                 max_steps=10, generator=0),
         bad=[Bad(dict(option=2), "option must be < n_options", why="no such option")]),
    Case(rl.smdp_q_learning, lambda: dict(**_mdp_args(), options=rl.primitive_options(4, 2), start=_chain().start,
                                          terminal=_chain().terminal, gamma=0.9, method="intra", n_agents=2,
                                          n_episodes=2, lr=0.5, epsilon=0.1, max_steps=20, generator=0,
                                          progress=False),
         bad=[Bad(dict(start=torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=torch.float64)), "no mass on terminal",
                  why="episodes would start finished")]),
]

EXEMPT = {
    "OptionLearningResult": "result container (dataclass) returned by smdp_q_learning",
    "OptionModelResult": "result container (dataclass) returned by option_models",
    "OptionRollouts": "result container (dataclass) returned by sample_option_rollouts",
    "OptionSet": "container (dataclass) of option tensors, built by primitive_options, subgoal_options and "
                 "hallway_options; checked by every function that takes it",
    "SMDPValueResult": "result container (dataclass) returned by smdp_value_iteration",
    "GoalSwitchResult": "result container (dataclass) returned by goal_switching",
    "HMMSample": "result container (dataclass) returned by sample_hmm",
    "QLearningResult": "result container (dataclass) returned by q_learning",
    "TabularMDP": "result container (dataclass) returned by chain_mdp, grid_mdp and delayed_effect_mdp",
    "Trajectories": "result container (dataclass) returned by sample_trajectories",
    "ValueIterationResult": "result container (dataclass) returned by value_iteration",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
