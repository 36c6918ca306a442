"""The settings every trainer's config shares (microsr_core.train.loop.RunSettings)."""

import pytest

from microsr_core.errors import ParameterError
from microsr_core.train import TRAINERS
from microsr_core.train.settings import RunSettings


@pytest.mark.parametrize("method", sorted(TRAINERS))
@pytest.mark.parametrize(
    "field, value, message",
    [
        ("checkpoint_every", 0, "checkpoint_every must be positive, got 0"),
        ("validate_every", -5, "validate_every must be positive, got -5"),
        ("threads", -1, "threads must be >= 0, got -1"),
        ("val_fraction", 0.5, r"val_fraction must lie in \(0, 0.5\) \(as many images again go to the test split\), got 0.5"),
        ("val_fraction", 0, r"val_fraction must lie in \(0, 0.5\) .*got 0"),
        ("precision", "fp8", r"precision must be one of auto, fp32, bf16, fp16, got 'fp8'"),
    ],
)
def test_every_trainer_refuses_bad_shared_settings(method, field, value, message):
    config_cls = TRAINERS[method].config_cls
    assert issubclass(config_cls, RunSettings)
    # Configs are checked before any data is read, so these folders need not exist.
    with pytest.raises(ParameterError, match=message):
        config_cls(data="images", out="run", **{field: value})


@pytest.mark.parametrize("method", sorted(TRAINERS))
def test_shared_settings_keep_their_defaults_and_required_fields_stay_positional(method):
    config = TRAINERS[method].config_cls("images", "run")
    assert (config.data, config.out) == ("images", "run")
    assert (config.val_fraction, config.checkpoint_every, config.validate_every, config.device, config.seed, config.threads) == (
        0.1, 250, 500, "auto", 0, 0,
    )
