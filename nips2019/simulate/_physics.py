"""A differentiable projectile with drag and bounces: explicit Runge-Kutta, batched."""

from __future__ import annotations

import torch

from ..utils import Integer, Options, Real, Tensor, validate

_DRAG = Options("linear", "quadratic")


def _accel(v, drag, g, drag_model):
    """Acceleration of a point mass: gravity -g e_y and drag -k v (linear) or -k |v| v (quadratic)."""
    grav = torch.zeros_like(v)
    grav[..., 1] = -g
    if drag_model == "linear":
        return grav - drag[..., None] * v
    speed = torch.sqrt((v * v).sum(-1, keepdim=True) + torch.finfo(v.dtype).tiny)
    return grav - drag[..., None] * speed * v


def _rk4(state, drag, g, dt, drag_model):
    def f(s):
        return torch.cat([s[..., 2:], _accel(s[..., 2:], drag, g, drag_model)], dim=-1)

    k1 = f(state)
    k2 = f(state + 0.5 * dt * k1)
    k3 = f(state + 0.5 * dt * k2)
    k4 = f(state + dt * k3)
    return state + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)


def _bounce(state, restitution):
    """Reflect states below the ground y = 0: y -> -e y, v_y -> -e v_y (differentiable a.e.)."""
    below = state[..., 1] < 0
    if not bool(below.any()):
        return state
    flip = torch.where(below, -restitution * torch.ones_like(state[..., 1]), torch.ones_like(state[..., 1]))
    return torch.stack([state[..., 0], state[..., 1] * flip, state[..., 2], state[..., 3] * flip], dim=-1)


_STATE = Tensor(shape=("n", 4), dtype="floating")
_DRAGT = Tensor(shape=("n",), dtype="floating", low=0)


@validate(state=_STATE, drag=_DRAGT, g=Real(), dt=Real(low=0, closed="neither"), drag_model=_DRAG,
          restitution=Real(low=0, high=1, optional=True), same=[("state", "drag")])
def projectile_step(state: torch.Tensor, drag: torch.Tensor, *, g: float = 9.81, dt: float = 0.01,
                    drag_model: str = "quadratic", restitution: float | None = None) -> torch.Tensor:
    r"""One explicit Runge-Kutta (RK4) step of a point mass under gravity and drag.

    .. math::

        \dot p = v, \qquad \dot v = -g\, e_y - k\, v \ \ (\text{linear}) \quad\text{or}\quad
        \dot v = -g\, e_y - k\, \|v\|\, v \ \ (\text{quadratic}),

    followed, when ``restitution`` :math:`e` is given, by a bounce on the ground
    :math:`y = 0`: a state that ended below it is reflected, :math:`y \to -e y`,
    :math:`v_y \to -e v_y`. Every operation is differentiable (the bounce almost
    everywhere), so gradients flow to the initial state and to :math:`k`.

    Parameters
    ----------
    state : Tensor, shape (n, 4)
        Rows :math:`(x, y, v_x, v_y)`.
    drag : Tensor, shape (n,)
        Drag coefficients :math:`k \ge 0` (per unit mass).
    g : float
        Gravitational acceleration.
    dt : float
        Time step.
    drag_model : {"quadratic", "linear"}
    restitution : float, optional
        Coefficient of restitution in [0, 1]; ``None``: no ground.

    Returns
    -------
    Tensor, shape (n, 4)

    Notes
    -----
    The local error of RK4 is :math:`O(dt^5)`; the bounce is first order in ``dt`` (the
    contact time is not located exactly). See the chapter
    :doc:`Generative models beyond GANs </book/generative>`.

    Examples
    --------
    >>> import torch
    >>> s = projectile_step(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.zeros(1), g=0.0, dt=0.5)
    >>> s.tolist()
    [[0.5, 0.5, 1.0, 1.0]]
    """
    out = _rk4(state, drag, g, dt, drag_model)
    return _bounce(out, restitution) if restitution is not None else out


@validate(position=Tensor(shape=("n", 2), dtype="floating"), velocity=Tensor(shape=("n", 2), dtype="floating"),
          drag=_DRAGT, g=Real(), dt=Real(low=0, closed="neither"), n_steps=Integer(low=1), drag_model=_DRAG,
          restitution=Real(low=0, high=1, optional=True), same=[("position", "velocity", "drag")])
def simulate_projectile(position: torch.Tensor, velocity: torch.Tensor, drag: torch.Tensor, *, g: float = 9.81,
                        dt: float = 0.01, n_steps: int = 100, drag_model: str = "quadratic",
                        restitution: float | None = None) -> torch.Tensor:
    r"""Trajectories of a batch of projectiles, differentiable in every input tensor.

    Repeats :func:`projectile_step` ``n_steps`` times from
    :math:`(p_0, v_0)`; the states at times :math:`0, dt, \dots, n\,dt` are returned.
    Without drag and ground the positions are the parabola
    :math:`p(t) = p_0 + v_0 t - \tfrac12 g t^2 e_y` (exact for RK4, a quadratic).

    Parameters
    ----------
    position, velocity : Tensor, shape (n, 2)
        Initial positions and velocities.
    drag : Tensor, shape (n,)
        Drag coefficients, >= 0.
    g, dt, n_steps, drag_model, restitution
        As in :func:`projectile_step`.

    Returns
    -------
    Tensor, shape (n, n_steps + 1, 4)
        States :math:`(x, y, v_x, v_y)` over time.

    Notes
    -----
    Backpropagation stores every step; memory grows like ``n * n_steps``. See the chapter
    :doc:`Generative models beyond GANs </book/generative>`.

    Examples
    --------
    >>> import torch
    >>> traj = simulate_projectile(torch.zeros(1, 2), torch.tensor([[3.0, 4.0]]), torch.zeros(1),
    ...                            g=10.0, dt=0.1, n_steps=8)
    >>> [round(v, 6) for v in traj[0, -1, :2].tolist()]  # t = 0.8: (2.4, 4 * 0.8 - 5 * 0.64)
    [2.4, 0.0]
    """
    state = torch.cat([position, velocity], dim=1)
    states = [state]
    for _ in range(int(n_steps)):
        state = _rk4(state, drag, g, dt, drag_model)
        if restitution is not None:
            state = _bounce(state, restitution)
        states.append(state)
    return torch.stack(states, dim=1)
