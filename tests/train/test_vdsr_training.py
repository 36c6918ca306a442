"""VDSR training: the loss falls on real images, resume continues the step count."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from microsr_core.errors import ParameterError
from microsr_core.train.checkpoints import load_checkpoint
from microsr_core.train.loop import TrainingCancelled
from microsr_core.train.vdsr import VDSRConfig, VDSRTask, train_vdsr


def _config(folder, out, steps):
    return VDSRConfig(
        data=str(folder), out=str(out), val=str(folder), scales=(2, 4), steps=steps, batch=8, patch=24,
        depth=5, channels=16, lr=0.1, clip_theta=0.001, val_images=2, val_crop=64,
        checkpoint_every=5, validate_every=10, threads=1,
    )


def test_a_few_steps_lower_the_loss(tiny_folder, tmp_path):
    task = VDSRTask(_config(tiny_folder, tmp_path / "run", 40))
    losses = [task.train_step(step)["loss"] for step in range(40)]
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10])


def test_run_writes_weights_card_history_and_resumes(tiny_folder, tmp_path):
    out = tmp_path / "run"
    calls = []

    def stop_after_twelve():  # checked after each step, before its progress report
        return len(calls) >= 12

    with pytest.raises(TrainingCancelled, match="stopped at step 13"):
        train_vdsr(_config(tiny_folder, out, 20), progress=calls.append, should_stop=stop_after_twelve)
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 13
    result = train_vdsr(_config(tiny_folder, out, 20), resume=out / "checkpoint.pt", progress=calls.append)
    assert [p.step for p in calls] == list(range(1, 21))  # no step repeated or skipped
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [row["step"] for row in history if "val_psnr_y_x2" in row] == [10, 20]
    assert result.steps == 20
    card = json.loads((out / "card.json").read_text())
    assert card["architecture"] == "VDSR" and card["training"]["steps"] == 20 and card["scales"] == [2, 4]
    assert (out / "model.safetensors").is_file()


def test_a_time_budget_ends_the_run_validated_checkpointed_and_exported(tiny_folder, tmp_path):
    out = tmp_path / "run"
    result = train_vdsr(replace(_config(tiny_folder, out, 500), max_seconds=1e-6))  # spent after the first step
    assert result.steps == 1 and load_checkpoint(out / "checkpoint.pt")["step"] == 1
    card = json.loads((out / "card.json").read_text())
    assert card["training"]["steps"] == 1 and card["training"]["stopped"] == "stopped by max_seconds 1e-06 at step 1 of 500"
    assert card["final_validation"]["step"] == 1 and "val_psnr_y_x2" in card["final_validation"]
    assert (out / "model.safetensors").is_file()
    train_vdsr(_config(tiny_folder, tmp_path / "whole", 3))  # no limit: every step, and no note
    whole = json.loads((tmp_path / "whole" / "card.json").read_text())
    assert whole["training"]["steps"] == 3 and "stopped" not in whole["training"]
    with pytest.raises(ParameterError, match="max_seconds must be >= 0, got -1"):
        replace(_config(tiny_folder, out, 5), max_seconds=-1)


def test_bad_config_is_refused(tiny_folder, tmp_path):
    from microsr_core.errors import ParameterError

    with pytest.raises(ParameterError, match="steps must be positive"):
        VDSRConfig(data=str(tiny_folder), out=str(tmp_path), steps=-1)
    with pytest.raises(ParameterError, match="lr must be positive, got 0"):
        VDSRConfig(data=str(tiny_folder), out=str(tmp_path), lr=0)
    with pytest.raises(ParameterError, match="scales"):
        VDSRConfig(data=str(tiny_folder), out=str(tmp_path), scales=(1,))


def test_balanced_scales_weigh_each_scale_by_its_inverse_bicubic_mse(tiny_folder, tmp_path):
    task = VDSRTask(replace(_config(tiny_folder, tmp_path / "run", 1), balance_scales=True))
    mse = {s: np.mean([np.mean((hr - ilr) ** 2) for ilr, hr in task.train_pairs[s]]) for s in (2, 4)}
    weights = task.scale_weights
    assert mse[4] > 2 * mse[2]  # x4 bicubic errors are larger ...
    assert weights[2] * mse[2] == pytest.approx(weights[4] * mse[4])  # ... and weigh correspondingly less
    assert (weights[2] + weights[4]) / 2 == pytest.approx(1.0)
    assert "x2 " in task.export()[1]["training"]["loss"]
    assert VDSRTask(_config(tiny_folder, tmp_path / "plain", 1)).scale_weights == {2: 1.0, 4: 1.0}


def test_init_starts_from_shipped_weights(tiny_folder, tmp_path, monkeypatch):
    from microsr_core.errors import ParameterError, WeightsError
    from tests.helpers import publish_random

    monkeypatch.setenv("MICROSR_WEIGHTS", str(tmp_path / "weights"))
    shipped = publish_random(tmp_path / "weights", "start", "vdsr", "VDSR", (2, 4), depth=5, channels=16)
    task = VDSRTask(replace(_config(tiny_folder, tmp_path / "run", 1), init="start"))
    for name, value in shipped.state_dict().items():
        assert (task.net.state_dict()[name] == value).all(), name
    assert "weights 'start'" in task.export()[1]["training"]["initialised_from"]
    with pytest.raises(ParameterError, match=r"do not fit this run's architecture flags \({'depth': 5, 'channels': 8}\)"):
        VDSRTask(replace(_config(tiny_folder, tmp_path / "run", 1), init="start", channels=8))
    with pytest.raises(WeightsError, match="no weights named 'nope'"):
        VDSRTask(replace(_config(tiny_folder, tmp_path / "run", 1), init="nope"))


def test_the_default_recipe_is_adam_everywhere_and_sgd_only_by_request():
    from microsr_core.cli import build_parser
    from microsr_core.train.vdsr import VDSRConfig

    args = build_parser().parse_args(["train", "vdsr", "--data", "d", "--out", "o"])
    fields = {k: getattr(args, k) for k in ("optimizer", "lr", "steps", "recipe")}
    config = VDSRConfig(data="d", out="o", **fields)
    assert (config.recipe, config.optimizer, config.lr, config.steps) == ("cpu", "adam", 1e-4, 1500)
    assert VDSRConfig.AUTO_RECIPE["cuda"] == "cpu"  # also the default with a GPU
    paper = VDSRConfig(data="d", out="o", recipe="paper")
    assert (paper.optimizer, paper.lr, paper.steps) == ("sgd", 0.1, 20000)
    assert VDSRConfig(data="d", out="o", recipe="paper", lr=0.01).lr == 0.01  # the user's value wins


def test_train_resume_needs_only_the_run_folder_and_refuses_other_networks(tiny_folder, tmp_path, capsys):
    from microsr_core.cli import main

    out = tmp_path / "run"
    train_vdsr(_config(tiny_folder, out, 5))
    assert main(["train", "resume", str(out), "--steps", "10"]) == 0
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [row["step"] for row in history if "val_psnr_y_x2" in row] == [5, 10]  # continued, not restarted
    assert json.loads((out / "card.json").read_text())["training"]["steps"] == 10
    # A run whose networks differ from the checkpoint's is refused before it reads any data.
    config = replace(_config(tmp_path / "absent", out, 12), data=str(tmp_path / "absent"), channels=8)
    with pytest.raises(Exception, match=r"cannot resume: the checkpoint's networks were built with channels 16 \(now 8\)"):
        train_vdsr(config, resume=out / "checkpoint.pt")
    assert main(["train", "resume", str(out), "--steps", "12", "--threads", "1"]) == 0
    assert main(["train", "resume", str(tmp_path / "nowhere")]) == 2
    assert "checkpoint.pt does not exist" in capsys.readouterr().err


def test_a_microscope_run_draws_a_new_capture_per_patch_and_says_so_on_its_card(tiny_folder, tmp_path):
    config = replace(_config(tiny_folder, tmp_path / "run", 10), degradation="microscope", capture_ranges="na=0.25:0.3,jpeg_share=1")
    task = VDSRTask(config)
    rng = np.random.default_rng(0)
    x, y, *_ = task.sample_batch(rng)
    x2, y2, *_ = task.sample_batch(np.random.default_rng(0))
    np.testing.assert_array_equal(x.numpy(), x2.numpy())  # seeded
    assert x.shape == y.shape == (8, 1, 24, 24)
    # the input is a blurred, noisy capture: further from the target than a bicubic LR's input is
    bicubic = VDSRTask(replace(config, degradation="bicubic", capture_ranges=None)).sample_batch(np.random.default_rng(0))
    assert float(((x - y) ** 2).mean()) > float(((bicubic[0] - bicubic[1]) ** 2).mean())
    result = train_vdsr(config)
    card = json.loads((result.out_dir / "card.json").read_text())
    assert card["lr_kind"] == "real"
    assert "random microscope capture" in card["training"]["degradation"] and "na 0.25..0.3" in card["training"]["degradation"]
    assert json.loads((result.out_dir / "config.json").read_text())["capture_ranges"] == "na=0.25:0.3,jpeg_share=1"


def test_degradation_settings_are_refused_before_any_data_is_read(tmp_path):
    from microsr_core.errors import ParameterError
    from microsr_core.train.prior import PriorConfig

    with pytest.raises(ParameterError, match="degradation must be one of bicubic, microscope"):
        VDSRConfig(data="nowhere", out=str(tmp_path), degradation="phone")
    with pytest.raises(ParameterError, match="capture_ranges needs degradation microscope"):
        VDSRConfig(data="nowhere", out=str(tmp_path), capture_ranges="na=0.2:0.3")
    with pytest.raises(ParameterError, match="above high"):
        VDSRConfig(data="nowhere", out=str(tmp_path), degradation="microscope", capture_ranges="na=0.5:0.3")
    with pytest.raises(ParameterError, match="draws a capture per crop: give --crop"):
        PriorConfig(data="nowhere", out=str(tmp_path), degradation="microscope", crop=0)


def _maps_config(folder, out, steps=20, **changes):
    return replace(_config(folder, out, steps), scales=(2,), degradation="family", capture_maps=True, **changes)


def test_a_capture_maps_run_reads_each_patchs_measured_capture_and_writes_a_conditioned_card(tiny_folder, tmp_path, monkeypatch):
    from microsr_core.imaging.capture_family import CaptureFamily
    from microsr_core.imaging.capture_maps import map_values

    task = VDSRTask(_maps_config(tiny_folder, tmp_path / "batch"))
    x, y, _, conditions = task.sample_batch(np.random.default_rng(4))
    assert conditions.shape == (8, 2) and x.shape == (8, 1, 24, 24)
    assert ((conditions >= 0) & (conditions <= 1)).all() and conditions[:, 0].std() > 0.05  # each patch its own capture
    # The values are the patch's own capture's measured numbers (here without the jitter).
    measured = []
    conditioned_pair = CaptureFamily.conditioned_pair
    monkeypatch.setattr(CaptureFamily, "conditioned_pair", lambda *a: measured.append(conditioned_pair(*a)) or measured[-1])
    monkeypatch.setattr("microsr_core.train.vdsr.jittered", lambda noise, detail, rng: map_values(noise, detail))
    ilr, hr, values = task._capture_patch(2, np.random.default_rng(9))
    assert len(measured) == 1 and values.tolist() == map_values(*measured[0][2:]).tolist() and ilr.shape == hr.shape
    example = task.val_examples[2][0]
    assert len(example) == 3 and example[2].dtype == np.float32  # the estimate from the val LR
    monkeypatch.undo()
    result = train_vdsr(_maps_config(tiny_folder, tmp_path / "run"))
    card = json.loads((result.out_dir / "card.json").read_text())
    assert card["arch_kwargs"] == {"depth": 5, "channels": 16, "conditions": 2} and card["lr_kind"] == "real"
    assert "jittered by exp(N(0, (0.44, 0.36)))" in card["training"]["capture_maps"]
    assert np.isfinite(card["final_validation"]["val_gain_db_x2"])


def test_capture_maps_need_the_family_and_a_plain_run_keeps_its_card(tiny_folder, tmp_path):
    from microsr_core.errors import ParameterError

    with pytest.raises(ParameterError, match="capture_maps needs degradation family"):
        replace(_maps_config(tiny_folder, tmp_path / "run"), degradation="microscope")
    plain = VDSRTask(replace(_config(tiny_folder, tmp_path / "run", 1), scales=(2,), degradation="family"))
    assert plain.arch_kwargs == {"depth": 5, "channels": 16} and plain.net.condition is None
    assert len(plain.sample_batch(np.random.default_rng(0))) == 4 and plain.sample_batch(np.random.default_rng(0))[3] is None


def test_the_maps_branch_learns_at_its_own_rate_and_the_trunk_at_lr(tiny_folder, tmp_path):
    task = VDSRTask(_maps_config(tiny_folder, tmp_path / "run", steps=30, lr=1e-4, lr_decay_every=10, maps_lr_factor=20))
    trunk, branch = task.optimizer.param_groups
    assert [id(p) for p in branch["params"]] == [id(task.net.condition.weight), id(task.net.condition.bias)]
    assert len(trunk["params"]) + 2 == len(list(task.net.parameters()))
    assert task.set_learning_rate(15, 0.1, 10) == pytest.approx(1e-5)  # one decay done
    assert trunk["lr"] == pytest.approx(1e-5) and branch["lr"] == pytest.approx(2e-4)
    card = task.export()[1]
    assert card["training"]["optimizer"].endswith("/10 every 10 steps (the capture-maps branch 20x)")
    plain = VDSRTask(replace(_config(tiny_folder, tmp_path / "plain", 1), scales=(2,), degradation="family", maps_lr_factor=20))
    assert len(plain.optimizer.param_groups) == 1 and "branch" not in plain.export()[1]["training"]["optimizer"]


def test_init_from_weights_without_the_branch_starts_it_at_zero(tiny_folder, tmp_path, monkeypatch):
    import torch

    from microsr_core.errors import ParameterError
    from tests.helpers import publish_random

    monkeypatch.setenv("MICROSR_WEIGHTS", str(tmp_path / "weights"))
    shipped = publish_random(tmp_path / "weights", "plain", "vdsr", "VDSR", (2,), depth=5, channels=16)
    task = VDSRTask(_maps_config(tiny_folder, tmp_path / "run", 1, init="plain"))
    for name, value in shipped.state_dict().items():
        assert torch.equal(task.net.state_dict()[name], value), name
    assert not task.net.condition.weight.any() and not task.net.condition.bias.any()
    x = torch.rand(1, 1, 20, 20).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():  # what the init weights returned (both channels-last, as the run holds them)
        assert torch.equal(task.net(x, torch.tensor([[0.1, 0.9]])), shipped.to(memory_format=torch.channels_last)(x))
    assert "tensors they lack, started at zero: condition.weight, condition.bias" in task.export()[1]["training"]["initialised_from"]
    publish_random(tmp_path / "weights", "maps", "vdsr", "VDSR", (2,), depth=5, channels=16, conditions=2)
    with pytest.raises(ParameterError, match=r"have tensors this run's network lacks \(condition.weight, condition.bias\)"):
        VDSRTask(replace(_config(tiny_folder, tmp_path / "run", 1), scales=(2,), degradation="family", init="maps"))


def test_a_moving_average_run_validates_ships_and_checkpoints_the_average(tiny_folder, tmp_path):
    out = tmp_path / "run"
    task = VDSRTask(replace(_config(tiny_folder, out, 4), ema=0.5))
    before = [p.clone() for p in task.net.parameters()]
    task.train_step(0)
    for average, start, after in zip(task.shipped.parameters(), before, task.net.parameters()):
        torch.testing.assert_close(average, (start + after) / 2)  # decay 0.5: halfway to the step's weights
    example = task.val_examples[2][0]
    plain = task.measure(2, example)["psnr_y"]
    task.shipped.load_state_dict(task.net.state_dict())
    assert task.measure(2, example)["psnr_y"] != plain  # validation read the average, not the network
    shipped, card = task.export()
    assert shipped is task.shipped and "moving average of the network's weights, decay 0.5" in card["training"]["optimizer"]
    result = train_vdsr(replace(_config(tiny_folder, out, 4), ema=0.5))
    saved = load_checkpoint(out / "checkpoint.pt")["modules"]
    assert set(saved) == {"net", "net_ema"} and result.steps == 4
    assert not all(torch.equal(saved["net"][k], saved["net_ema"][k]) for k in saved["net"])
