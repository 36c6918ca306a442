"""One home per method fact: the network input, the trainer's method names, the scales."""

import numpy as np
import pytest
import torch

from microsr_core.models.catalog import method_catalog, method_scales
from microsr_core.imaging.degrade import Degradation, modcrop
from microsr_core.models.methods.microgan import MicroGANMethod
from microsr_core.models.methods.vdsr import VDSRMethod
from microsr_core.models.network_input import degrade_batch
from microsr_core.models.registry import create, method_class, method_names
from microsr_core.train import TRAINERS
from microsr_core.train.task import y_pair
from microsr_core.train.microgan import make_pair
from tests.helpers import publish_random

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _network_inputs(method, lr: np.ndarray, scale: int) -> torch.Tensor:
    """What ``method`` feeds its network for ``lr`` at ``scale``."""
    seen = []

    def forward(x, scale, conditions=None):
        seen.append(x.detach().clone())
        return x  # both methods take a tensor of their network's output shape

    method.forward = forward
    method.process(lr, scale)
    (x,) = seen
    return x


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_training_feeds_the_y_networks_what_inference_does(sample, scale, tmp_path, monkeypatch):
    monkeypatch.setenv("MICROSR_WEIGHTS", str(tmp_path))
    publish_random(tmp_path, "vdsr", "vdsr", "VDSR", (2, 3, 4), depth=3, channels=8)
    hr = sample[:90, :66]
    lr = Degradation("bicubic", scale).apply(modcrop(hr, scale))
    trained_on, _ = y_pair(hr, scale)  # VDSR's and the prior network's training pairs
    served = _network_inputs(VDSRMethod(torch.device("cpu")), lr, scale)[0, 0].numpy()
    np.testing.assert_array_equal(served, trained_on)


@pytest.mark.parametrize("scale", [1, 2, 3])
def test_training_feeds_microgan_what_inference_does(sample, scale, tmp_path, monkeypatch):
    monkeypatch.setenv("MICROSR_WEIGHTS", str(tmp_path))
    publish_random(tmp_path, "microgan", "microgan", "MicroGANGenerator", (1, 2, 3), levels=2, width=4)
    hr = sample[:90, :66]
    lr = Degradation("gaussian" if scale == 1 else "bicubic", scale).apply(modcrop(hr, scale))
    trained_on, _ = make_pair(hr, scale)  # validation's input; degrade_batch is the training batches'
    served = _network_inputs(MicroGANMethod(torch.device("cpu")), lr, scale)[0].numpy().transpose(1, 2, 0)
    np.testing.assert_array_equal(served, trained_on)
    batch = torch.from_numpy(np.ascontiguousarray(modcrop(hr, scale).transpose(2, 0, 1)))[None].double()
    np.testing.assert_allclose(degrade_batch(batch, scale)[0].numpy().transpose(1, 2, 0), trained_on, atol=1e-5)


def test_every_name_a_trainer_produces_is_a_registered_method_of_that_trainer():
    registered = method_names(include_promoted=False)
    for key, trainer in TRAINERS.items():
        assert trainer.task_cls.name == key
        for name in trainer.produces:
            assert name in registered, f"trainer '{key}' makes weights for '{name}', which is not a registered method"
            assert method_class(name).trainer == key
    trained = {name for trainer in TRAINERS.values() for name in trainer.produces}
    assert trained == {name for name in registered if method_class(name).trainer}


def test_the_command_line_and_the_app_offer_the_same_scales(tmp_path, monkeypatch, microsr_home):
    monkeypatch.setenv("MICROSR_WEIGHTS", str(tmp_path))
    # The card narrows the class's scales (MicroGAN ships x1 only); a single-scale model adds its
    # scale where it is installed; vdsr_x2 and vdsr_x3 are not.
    publish_random(tmp_path, "vdsr", "vdsr", "VDSR", (2, 4), depth=3, channels=8)
    publish_random(tmp_path, "vdsr_x3", "vdsr", "VDSR", (3,), depth=3, channels=8)
    publish_random(tmp_path, "microgan", "microgan", "MicroGANGenerator", (1,), levels=2, width=4)
    catalog = {info.name: info for info in method_catalog()}
    assert catalog["vdsr"].scales == (2, 3, 4) and catalog["microgan"].scales == (1,)
    assert not catalog["prior"].available and catalog["prior"].scales == method_class("prior").scales
    for name, info in catalog.items():
        assert method_scales(name) == info.scales  # what evaluate checks
        if info.available:
            assert create(name, torch.device("cpu")).scales == info.scales  # what upscale serves
