"""MicroGAN training: WGAN-GP penalty, content losses (SSIM vs scikit-image, VGG from a local
file), exact degradations on the device, size buckets, and short runs on real crops."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from skimage.metrics import structural_similarity

from microsr_core.models.archs import build_architecture
from microsr_core.cli import build_parser
from microsr_core.errors import ParameterError, WeightsError
from microsr_core.imaging.io import save_image
from microsr_core.imaging.metrics import psnr_y
from microsr_core.train import TRAINERS
from microsr_core.train.gan_losses import PixelContentLoss, VGGContentLoss, gradient_penalty, ssim
from microsr_core.models.weights import load_vgg19_features, truncate_vgg19_state
from microsr_core.train.checkpoints import load_checkpoint
from microsr_core.train.loop import TrainingCancelled
from microsr_core.train.microgan import (
    CellSampler,
    MicroGANConfig,
    MicroGANTask,
    degrade_batch,
    load_cells,
    make_pair,
    train_microgan,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: (top, left, height, width) of real crops of the sample micrograph used as single cells.
CROPS = [(0, 0, 64, 80), (100, 40, 72, 56), (200, 200, 96, 96), (300, 100, 50, 70), (380, 300, 88, 64), (420, 420, 60, 60)]


@pytest.fixture
def cell_folder(tmp_path, sample):
    folder = tmp_path / "cells"
    for index, (top, left, height, width) in enumerate(CROPS):
        save_image(folder / f"cell{index}.png", sample[top : top + height, left : left + width])
    return folder


def _config(folder, out, **changes):
    options = dict(
        data=str(folder), out=str(out), val=str(folder), single_cells=True, scales=(1, 2, 4), steps=30,
        levels=2, width=8, critic_width=8, critic_downsamplings=2, batch_pixels=4 * 48 * 48, max_side=48,
        lr=1e-3, adv_weight=1.0, pretrain_steps=0, val_cells=2, checkpoint_every=5, validate_every=10, threads=1,
    )
    options.update(changes)
    return MicroGANConfig(**options)


# --- Gradient penalty ---------------------------------------------------------------------------


def test_gradient_penalty_is_taken_on_interpolates():
    seen = []

    def critic(x):
        seen.append(x.detach().clone())
        return (x**2).flatten(1).sum(1)

    # real - fake is at least 0.5 everywhere, so recovering alpha below divides by nothing small
    # (unseeded, near-equal pixels once made it miss the 1e-4 tolerance).
    fake = torch.rand(4, 3, 5, 7)
    real = fake + 0.5 + 0.5 * torch.rand(4, 3, 5, 7)
    gradient_penalty(critic, real, fake)
    (mixed,) = seen
    alpha = ((mixed - fake) / (real - fake)).flatten(1)
    assert torch.allclose(alpha, alpha[:, :1].expand_as(alpha), atol=1e-4)  # one α per sample
    assert (alpha >= 0).all() and (alpha <= 1).all() and alpha[:, 0].std() > 0


def test_gradient_penalty_norm_is_per_sample_and_differentiable():
    # D(x) = ½ w·Σx² has ∇ = w·x, so the penalty is mean_i (w‖x̂_i‖ − 1)², with ‖·‖ over a whole sample.
    w = torch.tensor(0.7, requires_grad=True)

    def critic(x):
        return 0.5 * w * (x**2).flatten(1).sum(1)

    real, fake = torch.rand(3, 2, 4, 6), torch.rand(3, 2, 4, 6)
    rng = torch.Generator().manual_seed(5)
    penalty = gradient_penalty(critic, real, fake, generator=rng)
    alpha = torch.rand((3, 1, 1, 1), generator=torch.Generator().manual_seed(5))
    norms = (alpha * real + (1 - alpha) * fake).flatten(1).norm(dim=1)
    expected = ((0.7 * norms - 1) ** 2).mean()
    torch.testing.assert_close(penalty, expected)
    penalty.backward()  # needs create_graph=True: the gradient depends on w
    torch.testing.assert_close(w.grad, (2 * (0.7 * norms - 1) * norms).mean())


# --- Content losses -----------------------------------------------------------------------------


def test_ssim_equals_scikit_image(sample):
    a = sample[:40, :52]
    b = np.clip(a + np.random.default_rng(0).normal(0, 0.05, a.shape), 0, 1).astype(np.float32)
    expected = structural_similarity(a, b, channel_axis=2, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
    tensors = [torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].double() for x in (a, b)]
    assert ssim(*tensors).item() == pytest.approx(expected, abs=1e-6)


def test_pixel_loss_is_zero_only_for_equal_images():
    loss = PixelContentLoss()
    x = torch.rand(2, 3, 16, 20)
    assert loss(x, x).item() == pytest.approx(0, abs=1e-6)
    assert loss(x.flip(-1), x).item() > 0.1
    assert loss(x[..., :8, :8], x[..., :8, :8].flip(-1)).item() > 0  # below the SSIM window: L1 only


def _vgg_head():
    """A randomly initialised torchvision VGG19 ``features`` up to conv3_3 (layers 0..14)."""
    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(0)
    return make_layers(cfgs["E"][:9])[:15].eval()


def test_vgg_features_load_from_a_local_file(tmp_path):
    head = _vgg_head()
    state = {f"features.{k}": v for k, v in head.state_dict().items()}
    state["classifier.6.bias"] = torch.zeros(1000)  # a whole state dict's extra entries are ignored
    torch.save(truncate_vgg19_state(state, "conv3_3") | {"classifier.6.bias": torch.zeros(1000)}, tmp_path / "vgg19.pth")
    assert (tmp_path / "vgg19.pth").stat().st_size < 12e6
    features = load_vgg19_features(tmp_path / "vgg19.pth", "conv3_3")
    x = torch.rand(1, 3, 24, 20)
    with torch.no_grad():
        torch.testing.assert_close(features(x), head(x))
    assert not any(p.requires_grad for p in features.parameters())
    loss = VGGContentLoss(features, "conv3_3", "vgg19.pth")
    sr = torch.rand(1, 3, 24, 20, requires_grad=True)
    loss(sr, x).backward()
    assert sr.grad.abs().sum() > 0 and loss(x, x).item() == 0
    assert "VGG19 conv3_3" in loss.description


def test_bad_vgg_files_fail_clearly(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        load_vgg19_features(tmp_path / "none.pth")
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, tmp_path / "short.pth")
    with pytest.raises(WeightsError, match="lacks features.0.bias"):
        load_vgg19_features(tmp_path / "short.pth")
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(WeightsError, match="not a state dict"):
        load_vgg19_features(tmp_path / "list.pth")
    with pytest.raises(WeightsError, match="unknown VGG19 layer"):
        load_vgg19_features(tmp_path / "list.pth", "conv9_9")


def test_training_uses_the_vgg_loss_when_given_a_file(cell_folder, tmp_path):
    head = _vgg_head()
    torch.save({f"features.{k}": v for k, v in head.state_dict().items()}, tmp_path / "vgg.pth")
    task = MicroGANTask(_config(cell_folder, tmp_path / "run", vgg_weights=str(tmp_path / "vgg.pth")))
    assert isinstance(task.content, VGGContentLoss)
    assert np.isfinite(task.train_step(0)["content"])
    assert "VGG19 conv3_3" in task.export()[1]["training"]["content_loss"]


# --- Data ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
def test_device_degradation_equals_the_reference(sample, scale):
    hr = sample[37 : 37 + 12 * 7, 11 : 11 + 12 * 5]  # non-square, a multiple of every scale
    x, _ = make_pair(hr, scale)
    batch = torch.from_numpy(np.ascontiguousarray(hr.transpose(2, 0, 1)))[None]
    y = degrade_batch(batch, scale)[0].numpy().transpose(1, 2, 0)
    np.testing.assert_allclose(y, x, atol=1e-5)


def test_size_buckets_crop_real_cells_without_resizing(cell_folder, tmp_path):
    config = _config(cell_folder, tmp_path, augment=False, max_side=192, batch_pixels=3 * 64 * 64, bucket_ratio=1.3)
    cells = load_cells(sorted(cell_folder.iterdir()), config)
    assert all(c.shape[0] >= c.shape[1] for c in cells)  # stored upright
    sampler = CellSampler(cells, config)
    rng = np.random.default_rng(0)
    sizes = set()
    for scale in (1, 3, 4, 2, 3):
        batch = sampler.sample(rng, scale)
        assert batch.shape[1] % scale == 0 and batch.shape[2] % scale == 0
        sizes.add(batch.shape[1:3])
        for item in batch:  # every item is a window of a stored cell, pixel for pixel
            assert any(_contains(c.astype(np.float32) / 65535, item) for c in cells)
    assert len(sizes) > 1


def _contains(cell, window):
    h, w = window.shape[:2]
    for top in range(cell.shape[0] - h + 1):
        for left in range(cell.shape[1] - w + 1):
            if np.array_equal(cell[top : top + h, left : left + w], window):
                return True
    return False


def test_online_mode_takes_one_whole_cell_and_fs_resizes_to_128(cell_folder, tmp_path):
    online = _config(cell_folder, tmp_path, batch_pixels=0, max_side=192, augment=False)
    sampler = CellSampler(load_cells(sorted(cell_folder.iterdir()), online), online)
    batch = sampler.sample(np.random.default_rng(1), 1)
    assert batch.shape[0] == 1 and batch.shape[1:3] in {(max(h, w), min(h, w)) for _, _, h, w in CROPS}
    fs = _config(cell_folder, tmp_path, variant="fs", batch_pixels=2 * 128 * 128)
    sampler = CellSampler(load_cells(sorted(cell_folder.iterdir()), fs), fs)
    assert sampler.sample(np.random.default_rng(1), 2).shape == (2, 128, 128, 3)
    assert sampler.sample(np.random.default_rng(1), 3).shape == (2, 129, 129, 3)  # cropped to 128 for the critic


def test_cells_share_sets_how_often_a_batch_starts_from_the_cells_folders(cell_folder, tmp_path):
    config = _config(cell_folder, tmp_path, batch_pixels=0, max_side=192, augment=False, cells=str(cell_folder), cells_share=0.75)
    cells = load_cells(sorted(cell_folder.iterdir()), config)
    folder_cells = 2  # the last two stand for the cells folders' cells
    sampler = CellSampler(cells, config, folder_cells)
    rng = np.random.default_rng(0)
    from_folders = [any(np.array_equal(batch[0], c.astype(np.float32) / 65535) for c in cells[-folder_cells:]) for batch in (sampler.sample(rng, 1) for _ in range(400))]
    assert abs(np.mean(from_folders) - 0.75) < 0.06
    with pytest.raises(ParameterError, match="cells_share"):
        _config(cell_folder, tmp_path, cells_share=0.5)  # no cells folders


def test_cells_are_cut_from_real_bccd_fields(bccd_dir, tmp_path):
    config = _config(bccd_dir / "images", tmp_path, single_cells=False, val=None)
    cells = load_cells([bccd_dir / "images" / "BloodImage_00100.jpg"], config)
    assert len(cells) >= 10 and len({c.shape for c in cells}) > 5
    assert all(min(c.shape[:2]) >= config.min_side for c in cells)


# --- Training -----------------------------------------------------------------------------------


def _fixed_batch(task, seed=123):
    saved = task.rng
    task.rng = np.random.default_rng(seed)
    x, hr, _ = task.batch()
    task.rng = saved
    return x, hr


def _measure(task, x, hr):
    """Content loss, Wasserstein estimate D(real) − D(fake) and critic objective on one batch."""
    with torch.no_grad():
        fake = task.generator(x)
        content = task.content(fake, hr).item()
        distance = (task.critic(hr).mean() - task.critic(fake).mean()).item()
    penalty = gradient_penalty(task.critic, hr, fake, generator=torch.Generator().manual_seed(0)).item()
    return content, distance, -distance + task.config.gp_weight * penalty


def test_a_short_run_on_real_crops_moves_the_losses_the_right_way(cell_folder, tmp_path):
    # x4 (a blur the small critic learns to see within 100 updates) and the default adversarial weight.
    # fp32 pinned: "auto" picks bf16 or fp32 by a timing probe, so the path taken hung on the
    # machine's load (fp32 had moved the critic's distance by 0.12 after 25 steps, 0.65 after 40).
    task = MicroGANTask(_config(cell_folder, tmp_path / "run", scales=(4,), critic_width=16, adv_weight=0.05, precision="fp32"))
    x, hr = _fixed_batch(task)
    content_before, distance_before, critic_before = _measure(task, x, hr)
    rows = [task.train_step(step) for step in range(40)]
    content_after, distance_after, critic_after = _measure(task, x, hr)
    assert content_after < 0.98 * content_before  # the generator gets closer to the HR cells
    assert distance_after > distance_before + 0.2  # the critic learns to tell real from generated
    assert critic_after < critic_before - 1
    assert np.mean([r["wasserstein"] for r in rows[-5:]]) > np.mean([r["wasserstein"] for r in rows[:5]])
    assert all(np.isfinite(r["generator_loss"]) for r in rows)


def test_pretraining_uses_the_content_loss_alone(cell_folder, tmp_path):
    task = MicroGANTask(_config(cell_folder, tmp_path / "run", pretrain_steps=2))
    critic_before = [p.clone() for p in task.critic.parameters()]
    assert "wasserstein" not in task.train_step(0)
    assert all(torch.equal(a, b) for a, b in zip(critic_before, task.critic.parameters()))
    assert "wasserstein" in task.train_step(2)


def test_run_writes_weights_card_history_and_resumes(cell_folder, tmp_path):
    out = tmp_path / "run"
    calls = []
    with pytest.raises(TrainingCancelled, match="stopped at step 4"):
        train_microgan(_config(cell_folder, out, steps=6), progress=calls.append, should_stop=lambda: len(calls) >= 3)
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 4
    result = train_microgan(_config(cell_folder, out, steps=6), resume=out / "checkpoint.pt", progress=calls.append)
    assert [p.step for p in calls] == list(range(1, 7)) and result.steps == 6
    card = json.loads((out / "card.json").read_text())
    assert card["method"] == "microgan" and card["scales"] == [1, 2, 4]
    assert card["training"]["content_loss"].startswith("L1 + (1 - SSIM)")
    assert "global average pooling" in card["training"]["critic"]
    assert {"val_psnr_y_x1", "val_gain_db_x4", "val_ssim_y_x2"} <= set(card["final_validation"])
    generator = build_architecture(card["architecture"], **card["arch_kwargs"])
    generator.load_state_dict(load_file(str(out / "model.safetensors")), strict=True)


def test_the_moving_average_is_validated_shipped_and_resumed(cell_folder, tmp_path):
    out = tmp_path / "run"
    task = MicroGANTask(_config(cell_folder, out, ema=0.5, pretrain_steps=10))
    start = [p.clone() for p in task.generator.parameters()]
    task.train_step(0)
    for average, before, after in zip(task.shipped.parameters(), start, task.generator.parameters()):
        torch.testing.assert_close(average, (before + after) / 2)  # decay 0.5: halfway to the step's weights
    assert not all(torch.equal(a, b) for a, b in zip(task.shipped.parameters(), task.generator.parameters()))
    assert task.export()[0] is task.shipped and "moving average of the generator's weights, decay 0.5" in task.export()[1]["training"]["optimizer"]
    x, hr = _fixed_batch(task)
    pair = (x[0].numpy().transpose(1, 2, 0), hr[0].numpy().transpose(1, 2, 0))
    with torch.no_grad(), task.autocast():
        averaged = task.shipped(x[:1])[0].float().numpy().transpose(1, 2, 0)
    assert task.measure(2, pair)["psnr_y"] == pytest.approx(psnr_y(averaged, pair[1], 2), abs=1e-4)  # validation reads the average
    calls = []
    with pytest.raises(TrainingCancelled):
        train_microgan(_config(cell_folder, out, ema=0.5, steps=6), progress=calls.append, should_stop=lambda: len(calls) >= 3)
    saved = load_checkpoint(out / "checkpoint.pt")["modules"]["generator_ema"]
    train_microgan(_config(cell_folder, out, ema=0.5, steps=6), resume=out / "checkpoint.pt")
    shipped = load_file(str(out / "model.safetensors"))
    assert set(shipped) == set(saved) and not all(torch.equal(shipped[k], saved[k]) for k in saved)  # resumed, then averaged on
    with pytest.raises(ParameterError, match="ema must be in"):
        _config(cell_folder, out, ema=1.0)


def test_fs_variant_trains_with_the_fixed_size_critic(cell_folder, tmp_path):
    task = MicroGANTask(_config(cell_folder, tmp_path / "run", variant="fs", batch_pixels=2 * 128 * 128, scales=(3,), critic_downsamplings=4))
    assert type(task.critic).__name__ == "FixedSizeCritic"
    assert np.isfinite(task.train_step(0)["wasserstein"])
    card = task.export()[1]
    assert card["method"] == "microgan_fs" and "FixedSizeCritic" in card["training"]["critic"]


def test_bad_config_is_refused(cell_folder, tmp_path):
    with pytest.raises(ParameterError, match="variant"):
        _config(cell_folder, tmp_path, variant="big")
    with pytest.raises(ParameterError, match=r"scales must be integers >= 1 \(1 = Gaussian blur\), got \(0,\)"):
        _config(cell_folder, tmp_path, scales=(0,))
    with pytest.raises(ParameterError, match="adv_weight must be >= 0, got -1"):
        _config(cell_folder, tmp_path, adv_weight=-1)
    with pytest.raises(ParameterError, match="vgg_layer"):
        _config(cell_folder, tmp_path, vgg_layer="fc7")
    with pytest.raises(ParameterError, match="no cells"):
        MicroGANTask(_config(cell_folder, tmp_path, min_side=500))


def test_registered_for_the_command_line_and_jobs(tmp_path):
    assert TRAINERS["microgan"].config_cls is MicroGANConfig
    args = build_parser().parse_args(
        ["train", "microgan", "--data", "d", "--out", "o", "--vgg-weights", "v.pth", "--scales", "1,4", "--variant", "fs", "--adv-weight", "1"]
    )
    assert (args.vgg_weights, args.scales, args.variant, args.adv_weight) == ("v.pth", (1, 4), "fs", 1.0)


def test_a_microscope_run_captures_every_cell_anew_and_validates_on_fixed_captures(cell_folder, tmp_path):
    task = MicroGANTask(_config(cell_folder, tmp_path / "run", scales=(2, 4), degradation="microscope"))
    x, hr, scale = task.batch(4, np.random.default_rng(0))
    again, _, _ = task.batch(4, np.random.default_rng(0))
    other, _, _ = task.batch(4, np.random.default_rng(1))
    assert x.shape == hr.shape and torch.equal(x, again) and not torch.equal(x, other)
    reference = degrade_batch(hr, 4)  # a bicubic LR of the same cells is closer to the target
    assert float(((x - hr) ** 2).mean()) > float(((reference - hr) ** 2).mean())
    first = [pair[0].copy() for pair in task.val_examples[2]]
    task.validate()
    assert all(np.array_equal(a, pair[0]) for a, pair in zip(first, task.val_examples[2]))  # fixed captures
    assert task.export()[1]["lr_kind"] == "real"
