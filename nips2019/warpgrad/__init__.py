"""Meta-learned preconditioning: warped gradient descent (WarpGrad) next to MAML.

A task learner whose layers alternate with warp layers (:class:`WarpedMLP`): the task layers
adapt to each task by plain gradient descent, the warp layers are shared, held fixed during
adaptation and meta-learned, so that they act as a preconditioner of every task's gradient
steps (for linear warps exactly :math:`P = A^\\top A`, :meth:`WarpedMLP.preconditioner`).
WarpGrad's meta-objective (:func:`warpgrad_meta_loss`) differentiates one step from points of
the task trajectories instead of the whole trajectory, MAML's (:func:`maml_meta_loss`)
backpropagates through every inner step; :func:`meta_train` runs either, and
:func:`saved_tensor_bytes` measures what each keeps for its backward pass. Tasks are generated
linear regressions with an ill-conditioned shared covariance whose ideal preconditioner is
known (:func:`make_linear_tasks`). See the chapter
:doc:`Meta-learned preconditioning </book/metalearning>`.
"""

from ._meta import AdaptResult, MetaTrainResult, adapt, maml_meta_loss, meta_train, warpgrad_meta_loss
from ._model import WarpedMLP
from ._tasks import GraphMemory, LinearTasks, make_linear_tasks, preconditioned_condition_number, saved_tensor_bytes

__all__ = [
    "AdaptResult",
    "GraphMemory",
    "LinearTasks",
    "MetaTrainResult",
    "WarpedMLP",
    "adapt",
    "make_linear_tasks",
    "maml_meta_loss",
    "meta_train",
    "preconditioned_condition_number",
    "saved_tensor_bytes",
    "warpgrad_meta_loss",
]
