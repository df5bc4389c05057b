"""Contract cases for nips2019.pono (see tests/contract.py)."""

import torch

from nips2019 import pono
from tests.contract import Bad, Case, check_case, contract_params


def _x():
    return torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def _moments():
    m = pono.positional_normalize(_x())
    return m.mean, m.std


def _net():
    return pono.PonoAutoencoder("pono-ms", n_channels=2, n_latent=2, image_size=4, generator=0).double()


def _images():
    return torch.rand(6, 1, 4, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


CASES = [
    Case(pono.positional_normalize, lambda: dict(x=_x(), eps=1e-5),
         bad=[Bad(dict(x=torch.ones(2, 1, 4, 4, dtype=torch.float64)), "at least 2 channels",
                  why="one channel")]),
    Case(pono.moment_shortcut, lambda: dict(x=_x(), mean=_moments()[0], std=_moments()[1]),
         bad=[Bad(dict(std=-_moments()[1]), "std must be non-negative", why="negative scale"),
              Bad(dict(mean=torch.zeros(2, 1, 3, 3, dtype=torch.float64)), "mean", why="another image size")]),
    Case(pono.PositionalNorm, lambda: dict(return_moments=True, eps=1e-5)),
    Case(pono.PositionalNorm.forward, lambda: (pono.PositionalNorm(), dict(x=_x())), name="PositionalNorm.forward"),
    Case(pono.MomentShortcut, lambda: dict()),
    Case(pono.MomentShortcut.forward,
         lambda: (pono.MomentShortcut(), dict(x=_x(), mean=_moments()[0], std=_moments()[1])),
         name="MomentShortcut.forward"),
    Case(pono.PonoAutoencoder, lambda: dict(normalization="pono", n_channels=2, n_latent=2, image_size=4,
                                            generator=0),
         bad=[Bad(dict(image_size=5), "image_size must be even", why="odd size")]),
    Case(pono.PonoAutoencoder.forward, lambda: (_net(), dict(x=_images())), name="PonoAutoencoder.forward",
         bad=[Bad(dict(x=torch.rand(2, 1, 8, 8, dtype=torch.float64)), "must be", why="another image size")]),
    Case(pono.train_autoencoder, lambda: dict(model=_net(), inputs=_images(), targets=_images(), n_steps=1,
                                              batch_size=4, lr=1e-3, generator=0, progress=False),
         bad=[Bad(dict(targets=_images()[:5]), "targets", why="fewer targets than inputs")]),
]

EXEMPT = {
    "PositionalMoments": "result container (dataclass) returned by positional_normalize",
    "AutoencoderFit": "result container (dataclass) returned by train_autoencoder",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
