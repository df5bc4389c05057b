"""Contract cases for nips2019.causal (see tests/contract.py)."""

import torch

from nips2019 import causal
from tests.contract import Bad, Case, check_case, contract_params


def _cate_args():
    d = causal.make_cate_data(60, 3, generator=0)
    return dict(x=d.x, t=d.t, y=d.y)


def _lin():
    from sklearn.linear_model import LinearRegression

    return LinearRegression()


def _logit():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression()


def _iv(n=30, **kw):
    return causal.make_iv_data(n, generator=0, **kw)


def _panel():
    return causal.make_factor_panel(8, 20, 14, effect=1.0, generator=0)


def _kiv_predict():
    d = _iv(design="sigmoid")
    fit = causal.kernel_iv(d.x, d.y, d.z, lam=1e-3, xi=1e-3)
    return fit.predict, dict(x=d.x_test[:5])


def _demo():
    return causal.make_braking_episodes(5, episode_length=20, generator=0)


def _pols():
    d = _demo()
    return [causal.fit_masked_policy(d.obs, d.actions, m) for m in [(1, 1), (1, 0)]]


CASES = [
    Case(causal.make_braking_episodes, lambda: dict(n_episodes=3, policy=_pols()[0], episode_length=10, noise=5.0,
                                                    threshold=8.0, start=(20.0, 30.0), margin=4.0, generator=0,
                                                    dtype=torch.float64),
         bad=[Bad(dict(start=(30.0, 20.0)), "low <= high", why="empty start range")]),
    Case(causal.fit_masked_policy, lambda: dict(obs=_demo().obs, actions=_demo().actions, mask=(1, 0), reg=1e-3,
                                                max_iter=20, tol=1e-8),
         bad=[Bad(dict(mask=(2, 0)), "mask", why="mask entry 2"),
              Bad(dict(actions=_demo().actions * 0.5), "actions", why="fractional actions")]),
    Case(causal.MaskedPolicy.act, lambda: (_pols()[0].act, dict(obs=_demo().obs)), name="MaskedPolicy.act"),
    Case(causal.MaskedPolicy.predict_proba, lambda: (_pols()[0].predict_proba, dict(obs=_demo().obs)),
         name="MaskedPolicy.predict_proba"),
    Case(causal.intervention_mask_search, lambda: dict(policies=_pols(), n_episodes=1, episode_length=10,
                                                       noise=5.0, generator=0)),
    Case(causal.make_iv_data, lambda: dict(n_samples=20, design="linear", confounding=0.5, effect=1.0,
                                           strength=1.0, n_instruments=2, n_test=10, generator=0,
                                           dtype=torch.float64),
         bad=[Bad(dict(design="sigmoid", n_instruments=2), "one instrument", why="sigmoid with 2 instruments"),
              Bad(dict(confounding=1.0), "confounding", why="rho = 1")]),
    Case(causal.two_stage_least_squares,
         lambda: dict(y=_iv().y, x=_iv().x, z=_iv(n_instruments=2).z, exog=torch.randn(30, 1, dtype=torch.float64,
                      generator=torch.Generator().manual_seed(1)), intercept=True, cov_type="robust"),
         bad=[Bad(dict(z=torch.zeros(30, 0, dtype=torch.float64)), "z", why="no instruments"),
              Bad(dict(z=torch.ones(30, 1, dtype=torch.float64)), "collinear", why="an instrument equal to the intercept"),
              Bad(dict(x=torch.randn(30, 3, dtype=torch.float64)), "order condition", why="3 endogenous, 2 instruments")]),
    Case(causal.kernel_iv, lambda: dict(x=_iv(design="sigmoid").x, y=_iv(design="sigmoid").y,
                                        z=_iv(design="sigmoid").z, kernel="gaussian", split=0.5,
                                        lengthscale_x=0.3, lengthscale_z=0.3, sample_split=True),
         bad=[Bad(dict(sample_split=False), "give lam and xi", why="no split and no regularisers"),
              Bad(dict(split=0.01), "each stage needs", why="an empty stage")]),
    Case(causal.KernelIVResult.predict, _kiv_predict, name="KernelIVResult.predict",
         bad=[Bad(dict(x=torch.zeros(3, 2, dtype=torch.float64)), "columns", why="wrong width")]),
    Case(causal.make_factor_panel, lambda: dict(n_units=6, n_periods=12, t0=8, n_factors=2, effect=1.0, noise=0.1,
                                                treated_in_hull=True, generator=0, dtype=torch.float64),
         bad=[Bad(dict(t0=12), "t0 must be < n_periods", why="no post period")]),
    Case(causal.synthetic_control, lambda: dict(outcomes=_panel().outcomes, t0=14, treated=0,
                                                covariates=_panel().covariates,
                                                v=torch.ones(17, dtype=torch.float64)),
         bad=[Bad(dict(v=torch.ones(5, dtype=torch.float64)), "one weight per predictor", why="v too short"),
              Bad(dict(v=torch.zeros(17, dtype=torch.float64)), "positive entry", why="v = 0"),
              Bad(dict(treated=8), "treated must be < N", why="no such unit"),
              Bad(dict(t0=21), "t0 must be <= T", why="t0 past the end"),
              Bad(dict(v="best"), "v", why="unknown V rule")]),
    Case(causal.placebo_test, lambda: dict(outcomes=_panel().outcomes, t0=14, treated=1,
                                           covariates=_panel().covariates),
         bad=[Bad(dict(t0=20), r"t0 must be in \[1, T\)", why="no post period"),
              Bad(dict(outcomes=_panel().outcomes[:, :2], covariates=None), "at least 3 units", why="2 units")]),
    Case(causal.in_time_placebo, lambda: dict(outcomes=_panel().outcomes, t0=14, t_placebo=9, treated=0,
                                              covariates=_panel().covariates),
         bad=[Bad(dict(t_placebo=14), "t_placebo must be < t0", why="placebo after the treatment")]),
    Case(causal.make_cate_data, lambda: dict(n_samples=40, n_features=3, effect="nonlinear", confounding=1.0,
                                             noise=1.0, generator=0, dtype=torch.float64, device=None)),
    Case(causal.dml_cate, lambda: dict(**_cate_args(), model_y=_lin(), model_t=_logit(), n_folds=2, generator=0),
         bad=[Bad(dict(t=_cate_args()["t"] * 2), "0/1 treatment", why="treatment not binary")]),
    Case(causal.dr_cate, lambda: dict(**_cate_args(), model_y=_lin(), model_t=_logit(), n_folds=2, clip=0.05,
                                      generator=0),
         bad=[Bad(dict(t=torch.ones(60, dtype=torch.float64)), "both treated", why="no control unit")]),
    Case(causal.t_learner, lambda: dict(**_cate_args(), x_eval=_cate_args()["x"][:4], model_y=_lin()),
         bad=[Bad(dict(t=torch.zeros(60, dtype=torch.float64)), "both treated", why="no treated unit")]),
]

EXEMPT = {
    "CATEData": "result container (dataclass) returned by make_cate_data",
    "LinearCATEResult": "result container (dataclass) returned by dml_cate and dr_cate",
    "BrakingData": "result container (dataclass) returned by make_braking_episodes",
    "MaskedPolicy": "fitted object returned by fit_masked_policy; its act/predict_proba methods have cases",
    "MaskSearchResult": "result container (dataclass) returned by intervention_mask_search",
    "IVData": "result container (dataclass) returned by make_iv_data",
    "TSLSResult": "result container (dataclass) returned by two_stage_least_squares",
    "KernelIVResult": "result container returned by kernel_iv; its predict method has a case",
    "PanelData": "result container (dataclass) returned by make_factor_panel",
    "SyntheticControlResult": "result container (dataclass) returned by synthetic_control",
    "PlaceboResult": "result container (dataclass) returned by placebo_test",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
