"""Geometry-prior method (Hua et al. 2020): networks, parsing helpers, mean IoU, tiling, weights."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from microsr_core.models import inference
from microsr_core.models.archs import build_architecture, parameter_count
from microsr_core.models import runtime
from microsr_core.models.archs.prior import ParsingUNet, PriorLRVDSR, PriorSRNet, PriorVDSR
from microsr_core.models.archs.vdsr import VDSR
from microsr_core.imaging.color import rgb_to_y
from microsr_core.imaging.data import list_images, split_of
from microsr_core.imaging.degrade import bicubic_downscale, bicubic_upscale, modcrop
from microsr_core.errors import WeightsError
from microsr_core.comparison.evaluate import evaluate_folder
from microsr_core.models.inference import upscale
from microsr_core.imaging.io import load_image, save_image
from microsr_core.models.methods.prior import NonePriorMethod, PriorMethod
from microsr_core.imaging.metrics import iou_per_class, mean_iou, psnr, psnr_y
from microsr_core.imaging.parsing import BACKGROUND, CLASSES, CYTOPLASM, NUCLEUS, class_areas, implausible_parsing, labels_of, mask_to_labels
from microsr_core.models.serving import serving_table
from microsr_core.models.weights import sha256_of
from tests.helpers import publish_random

TINY = dict(channels=8, blocks=1, decoder_blocks=1, unet_base=4)
CPU = torch.device("cpu")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _tiny_net(prior=True, seed=0, **kwargs) -> PriorSRNet:
    """A small network with He-initialised layers and a non-zero last layer (so SR != bicubic)."""
    torch.manual_seed(seed)
    net = PriorSRNet(prior=prior, **{**TINY, **kwargs})
    with torch.no_grad():
        net.tail.weight.normal_(0, 0.1)
    return net.eval()


def _publish(folder, name, net: PriorSRNet, kwargs: dict, scales=(2, 4, 8)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    save_file(net.state_dict(), str(folder / f"{name}.safetensors"))
    cards = json.loads((folder / "manifest.json").read_text())["models"] if (folder / "manifest.json").exists() else {}
    cards[name] = {
        "file": f"{name}.safetensors", "sha256": sha256_of(folder / f"{name}.safetensors"),
        "method": name, "architecture": "PriorSRNet", "arch_kwargs": kwargs, "scales": list(scales),
    }
    (folder / "manifest.json").write_text(json.dumps({"models": cards}))


@pytest.fixture
def tiny_weights(tmp_path, monkeypatch):
    """Tiny random 'prior' and 'prior_none' weights in a private weights folder."""
    folder = tmp_path / "weights"
    _publish(folder, "prior", _tiny_net(True), {**TINY, "prior": True})
    _publish(folder, "prior_none", _tiny_net(False), {**TINY, "prior": False})
    monkeypatch.setenv("MICROSR_WEIGHTS", str(folder))
    monkeypatch.setattr(inference, "_cache", {})  # no method instance leaks into other tests
    return folder


def _y(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb_to_y(image))[None, None]


# --- networks -----------------------------------------------------------------------------


def test_layout_follows_the_paper():
    net = PriorSRNet()
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in net.modules())
    assert all(c.padding_mode == "zeros" and c.padding == (c.kernel_size[0] // 2,) * 2 for c in convs)
    assert {m.negative_slope for m in net.modules() if isinstance(m, torch.nn.LeakyReLU)} == {0.2}
    # U-Net with half of Ronneberger's channels: 32, 64, 128, 256, 512.
    unet = net.prior_net
    assert [block[0].out_channels for block in unet.down] + [unet.bottom[0].out_channels] == [32, 64, 128, 256, 512]
    assert unet.head.out_channels == len(CLASSES) == 3
    # Shallow features + LR encoder (3 residual blocks) + mask encoder (same depth): 192 channels.
    assert net.shallow[0].out_channels == 64 and len(net.lr_encoder) == 3 and len(net.mask_encoder) == 1 + 3
    assert net.decoder[0][0].in_channels == 192
    assert net.tail.kernel_size == (1, 1) and net.tail.out_channels == 1
    assert 7.5e6 < parameter_count(unet) < 8e6  # a quarter of the 31 M of the full U-Net
    ablation = build_architecture("PriorSRNet", prior=False)
    assert ablation.prior_net is None and ablation.mask_encoder is None
    assert ablation.decoder[0][0].in_channels == 128
    fewer_decoder_inputs = 64 * 64 * 3 * 3  # the decoder's first conv sees 128 instead of 192 channels
    removed = parameter_count(unet) + parameter_count(net.mask_encoder) + fewer_decoder_inputs
    assert parameter_count(ablation) == parameter_count(net) - removed


def test_shapes_for_any_size_and_a_fresh_network_returns_its_input():
    x = torch.rand(2, 1, 37, 53)
    for prior in (True, False):
        out = PriorSRNet(prior=prior, **TINY)(x)
        assert out.sr.shape == x.shape
        assert torch.equal(out.sr, x)  # last layer starts at zero: bicubic in, bicubic out
        assert (out.parsing_logits.shape == (2, 3, 37, 53)) if prior else out.parsing_logits is None


def test_the_prior_branch_changes_the_sr_output(sample):
    net = _tiny_net()
    x = _y(bicubic_upscale(bicubic_downscale(sample[:96, :96], 2), 2))
    with torch.no_grad():
        base = net(x).sr
        net.prior_net.head.bias[NUCLEUS] += 5.0  # the map now says "nucleus" everywhere
        moved = net(x).sr
    assert (moved - base).abs().max() > 1e-3
    # End to end: the SR output's gradient reaches the prior network's first layer.
    net.zero_grad()
    net(x).sr.sum().backward()
    assert net.prior_net.down[0][0].weight.grad.abs().sum() > 0


def test_unet_receptive_radius_bounds_its_reach():
    unet = ParsingUNet(base=2, depth=4).double().eval()
    radius = unet.receptive_radius
    size = 2 * radius + 40
    with torch.no_grad():
        for parameter in unet.parameters():
            parameter.normal_(0, 0.3)
        x = torch.zeros(1, 1, size, size, dtype=torch.float64)
        base = unet(x)
        reach = 0
        for pos in (size // 2 - 1, size // 2, size // 2 + 5):  # different pooling phases
            probe = x.clone()
            probe[0, 0, pos, pos] = 1.0
            rows = np.nonzero((unet(probe) - base).abs().amax(1)[0].amax(1).numpy() > 0)[0]
            reach = max(reach, pos - rows.min(), rows.max() - pos)
    assert 0.75 * radius <= reach <= radius


# --- parsing maps and mean IoU ------------------------------------------------------------


def test_masks_become_labels_and_labels_areas():
    mask = np.array([[0, 128, 255], [2, 130, 250]], np.uint8)  # stray levels go to the nearest code
    expected = [[BACKGROUND, CYTOPLASM, NUCLEUS], [BACKGROUND, CYTOPLASM, NUCLEUS]]
    np.testing.assert_array_equal(mask_to_labels(mask), expected)
    np.testing.assert_array_equal(mask_to_labels(np.dstack([mask / 255.0] * 3).astype(np.float32)), expected)
    parsing = np.zeros((2, 3, 3), np.float32)
    parsing[0, :, NUCLEUS] = 0.9
    parsing[1, :2, CYTOPLASM] = 0.6
    parsing[1, 2, BACKGROUND] = 0.7
    np.testing.assert_array_equal(labels_of(parsing), [[0, 0, 0], [1, 1, 2]])
    areas = class_areas(parsing, pixel_area=0.25)
    assert areas == {"nucleus": 0.75, "cytoplasm": 0.5, "background": 0.25, "cell": 1.25, "nucleus_fraction": 0.6}


def test_an_implausible_parsing_map_is_named_and_a_plausible_one_is_not():
    labels = np.full((100, 100), BACKGROUND, np.uint8)
    assert implausible_parsing(labels) is None  # a field without leukocytes: all background is fine
    labels[10:60, 10:60], labels[30:40, 30:40] = CYTOPLASM, NUCLEUS
    assert implausible_parsing(labels) is None  # one cell in a field
    labels[:] = CYTOPLASM
    labels[:1, :28] = BACKGROUND  # the teaching-mode failure: 0.28 % background
    assert implausible_parsing(labels) == "the parsing map calls 99.7% of the image cytoplasm, which no blood image is"
    labels[:, :15] = NUCLEUS
    labels[:1, :28] = BACKGROUND
    assert implausible_parsing(labels) == "the parsing map leaves only 0.28% of the image as background"


def test_mean_iou_known_answer_and_direct_count():
    pred, target = np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])
    np.testing.assert_allclose(iou_per_class(pred, target, 3), [1 / 2, 2 / 3, np.nan])
    assert mean_iou(pred, target) == pytest.approx(7 / 12)
    rng = np.random.default_rng(0)
    pred, target = rng.integers(0, 3, (40, 50)), rng.integers(0, 3, (40, 50))
    direct = [((pred == c) & (target == c)).sum() / ((pred == c) | (target == c)).sum() for c in range(3)]
    assert mean_iou(pred, target) == pytest.approx(np.mean(direct))
    assert mean_iou(target, target) == 1.0


def test_prior_vdsr_is_vdsr_until_its_prior_branch_learns(sample):
    torch.manual_seed(0)
    vdsr = VDSR(depth=5, channels=8)
    with torch.no_grad():
        vdsr.body[-1].weight.normal_(0, 0.1)
    y = _y(sample[:45, :61])
    for prior in (False, True):
        net = PriorVDSR(prior=prior, depth=5, channels=8, unet_base=4, unet_depth=3)
        net.load_state_dict(vdsr.state_dict(), strict=False)  # VDSR's layer names fit the trunk
        with torch.no_grad():
            out = net.eval()(y)
            torch.testing.assert_close(out.sr, vdsr(y), rtol=0, atol=1e-6)
        assert (out.parsing_logits is not None) == prior and net.size_multiple == (8 if prior else 1)
    with torch.no_grad():
        net.mask_encoder[2].weight.normal_(0, 0.1)
        assert (net(y).sr - vdsr(y)).abs().max() > 1e-3  # the map now changes the SR
        assert tuple(net(y).parsing_logits.shape) == (1, 3, 45, 61)
    assert net.receptive_radius == 5 + net.prior_net.receptive_radius + 2


LR_TINY = dict(depth=3, channels=8, unet_base=4, unet_depth=3)


@pytest.mark.parametrize("scale", [2, 4])
def test_prior_lr_vdsr_reads_lr_phases_and_starts_as_bicubic(sample, scale):
    y = _y(sample[:45, :61])  # neither side a multiple of the scale: the network pads and crops
    for prior in (False, True):
        torch.manual_seed(0)
        net = PriorLRVDSR(scale=scale, prior=prior, **LR_TINY).eval()
        with torch.no_grad():
            out = net(y)
        assert torch.equal(out.sr, y)  # the trunk's and the mask encoder's last layers start at zero
        assert net.size_multiple == scale * (8 if prior else 1)
        assert net.body[0].in_channels == net.body[-1].out_channels == scale**2  # one channel per pixel phase
        assert (tuple(out.parsing_logits.shape) == (1, 3, 45, 61)) if prior else out.parsing_logits is None
    phases = scale**2
    with torch.no_grad():
        net.body[-1].weight.normal_(0, 0.1)
        net.mask_encoder[2].weight.normal_(0, 0.1)
        base = net(y).sr
        # Logit channel c·s² + phase is class c at that phase: raising nucleus at every phase
        # makes the map say "nucleus" at every HR pixel, and the SR output follows.
        net.prior_net.head.bias[NUCLEUS * phases : (NUCLEUS + 1) * phases] += 50.0
        moved = net(y)
    assert bool((moved.parsing_logits.argmax(1) == NUCLEUS).all())
    assert (moved.sr - base).abs().max() > 1e-3
    net.zero_grad()
    net(y).sr.sum().backward()
    assert net.prior_net.down[0][0].weight.grad.abs().sum() > 0  # end to end, as PriorSRNet


@pytest.mark.parametrize("prior", [False, True])
def test_prior_lr_vdsr_receptive_radius_bounds_its_reach(prior):
    scale = 2
    net = PriorLRVDSR(scale=scale, prior=prior, **LR_TINY).double().eval()
    radius = net.receptive_radius
    multiple = net.size_multiple
    size = -(-(2 * radius + 40) // multiple) * multiple  # no padding: reflection would add reach
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.normal_(0, 0.3)
        x = torch.zeros(1, 1, size, size, dtype=torch.float64)
        base = net(x).sr
        reach = 0
        for pos in (size // 2 - 1, size // 2, size // 2 + 5):  # both pixel phases, several pooling phases
            probe = x.clone()
            probe[0, 0, pos, pos] = 1.0
            changed = (net(probe).sr - base).abs()[0, 0]
            changed[pos, pos] = 0  # the residual's own input pixel
            rows = np.nonzero(changed.amax(1).numpy() > 0)[0]
            reach = max(reach, pos - rows.min(), rows.max() - pos)
    # Without the prior: 3 convolutions of 3x3 LR pixels, plus the phase cell.
    lower = 0.75 * radius if prior else LR_TINY["depth"] * scale
    assert lower <= reach <= radius


def test_prior_lr_vdsr_tiles_match_the_whole_image(tmp_path, monkeypatch, sample):
    """Tiles on the LR grid with margins of the LR net's radius give the untiled result (no U-Net: no pooling phase)."""
    publish_random(tmp_path, "prior_none", "prior_none", "PriorLRVDSR", [4], scale=4, prior=False, **LR_TINY)
    monkeypatch.setenv("MICROSR_WEIGHTS", str(tmp_path))
    monkeypatch.setattr(inference, "_cache", {})
    method = NonePriorMethod(CPU)
    assert method.feature_stride(4) == 4  # default tiles four times as wide as for VDSR
    lr = sample[:101, :87]
    whole = upscale(lr, method, 4, tile=0, precision="fp32")
    tiled = upscale(lr, method, 4, tile=4 * method.margin(4), precision="fp32")
    assert tiled.tiles > 1
    np.testing.assert_allclose(tiled.image, whole.image, atol=2e-5)


@pytest.mark.skipif(bool(runtime.missing_packages()), reason="openvino or onnx is not installed")
@pytest.mark.parametrize("architecture", ["PriorSRNet", "PriorLRVDSR"])
def test_the_prior_runs_in_openvino_as_in_pytorch(tiny_weights, sample, monkeypatch, architecture):
    if architecture == "PriorLRVDSR":
        publish_random(tiny_weights, "prior", "prior", architecture, [2], scale=2, prior=True, **LR_TINY)
    lr = sample[:37, :45]  # not a multiple of the U-Net's 16: the method pads, the graph takes it
    results = {}
    for backend in ("pytorch", "openvino"):
        monkeypatch.setenv("MICROSR_CPU_BACKEND", backend)
        method = PriorMethod(CPU)
        assert method.backend == backend
        results[backend] = upscale(lr, method, 2, tile=0, precision="fp32")
    np.testing.assert_allclose(results["openvino"].image, results["pytorch"].image, atol=1e-5)
    np.testing.assert_allclose(results["openvino"].maps["parsing"], results["pytorch"].maps["parsing"], atol=1e-5)


# --- the method ---------------------------------------------------------------------------


def test_method_returns_sr_and_parsing_probabilities(tiny_weights, sample):
    method = PriorMethod(CPU)
    assert method.scales == (2, 4, 8)
    result = upscale(sample[:40, :48], method, 2, tile=0)
    assert result.image.shape == (80, 96, 3) and result.image.dtype == np.float32
    parsing = result.maps["parsing"]
    assert parsing.shape == (80, 96, 3) and parsing.dtype == np.float32
    np.testing.assert_allclose(parsing.sum(axis=2), 1.0, atol=1e-5)
    assert list(upscale(sample[:40, :48], NonePriorMethod(CPU), 4, tile=0).maps) == []


def test_each_method_refuses_the_other_variant(tiny_weights):
    cards = json.loads((tiny_weights / "manifest.json").read_text())
    models = cards["models"]
    models["prior"], models["prior_none"] = models["prior_none"], models["prior"]
    for entry in ("prior", "prior_none"):  # each card still claims its method: the network inside is the other's
        models[entry]["method"] = entry
    (tiny_weights / "manifest.json").write_text(json.dumps(cards))
    with pytest.raises(WeightsError, match="without the prior branch"):
        NonePriorMethod(CPU)
    with pytest.raises(WeightsError, match="with the prior branch"):
        PriorMethod(CPU)


def test_tiles_cover_the_receptive_field(tiny_weights, sample):
    """Without the U-Net (no pooling) a tiled run equals the untiled one: the margin suffices."""
    lr = sample[:101, :87]
    method = NonePriorMethod(CPU)
    whole = upscale(lr, method, 4, tile=0)
    tiled = upscale(lr, method, 4, tile=8 * method.margin(4))
    assert tiled.tiles > 1
    np.testing.assert_allclose(tiled.image, whole.image, atol=2e-5)


def test_runs_tiled_on_a_field_of_any_size(tiny_weights, sample):
    method = PriorMethod(CPU)
    lr = sample[:257, :301]
    result = upscale(lr, method, 2, tile=4 * method.margin(2))
    assert result.tiles > 1
    assert result.image.shape == (514, 602, 3) and result.maps["parsing"].shape == (514, 602, 3)
    np.testing.assert_allclose(result.maps["parsing"].sum(axis=2), 1.0, atol=1e-4)


def test_evaluate_reports_mean_iou_and_cell_psnr(tiny_weights, wbc_dir, tmp_path):
    images, masks = tmp_path / "images", tmp_path / "masks"
    for path in list_images(wbc_dir / "dataset1" / "images")[:2]:
        save_image(images / f"{path.stem}.png", load_image(path).pixels)
        save_image(masks / f"{path.stem}.png", load_image(wbc_dir / "dataset1" / "masks" / f"{path.stem}.png").pixels)
    report = evaluate_folder(images, 4, ["bicubic", "prior"], mask_dir=masks, device="cpu")
    assert "miou" not in report["bicubic"] and 0 <= report["prior"]["miou"] <= 1
    assert np.isfinite(report["prior"]["psnr_y_mask"])


# --- shipped weights (skipped until they exist) -------------------------------------------


def _ships(method: str) -> bool:
    """Whether shipped weights serve ``method`` at x4 (the scale these tests run)."""
    return any(row.scale == 4 for row in serving_table(method))


def _held_out(wbc_dir, count=3):
    """(HR image, label image) of held-out wbc_seg images of both datasets."""
    pairs = []
    for dataset in ("dataset1", "dataset2"):
        files = [p for p in list_images(wbc_dir / dataset / "images") if split_of(p) == "test"][:count]
        for path in files:
            hr = modcrop(load_image(path).pixels, 8)
            labels = mask_to_labels(load_image(wbc_dir / dataset / "masks" / f"{path.stem}.png").pixels)
            pairs.append((hr, labels[: hr.shape[0], : hr.shape[1]]))
    return pairs


def test_shipped_prior_finds_the_nucleus_and_beats_bicubic(wbc_dir):
    if not _ships("prior"):
        pytest.skip("no shipped prior weights in weights/manifest.json")
    try:
        method = PriorMethod(CPU)
    except WeightsError as exc:
        pytest.fail(str(exc))
    nucleus_ious, gains = [], []
    for hr, labels in _held_out(wbc_dir):
        lr = bicubic_downscale(hr, 4)
        result = upscale(lr, method, 4, tile=0)
        predicted = labels_of(result.maps["parsing"])
        nucleus_ious.append(iou_per_class(predicted, labels, 3)[NUCLEUS])
        gains.append(psnr_y(result.image, hr, 4) - psnr_y(upscale(lr, "bicubic", 4).image, hr, 4))
    assert np.mean(nucleus_ious) > 0.7  # nucleus pixels are found where the expert marked them
    # The shipped CPU-budget model gains 0.60-0.95 dB on each of these six test images (mean
    # 0.76; issue 15's target, +2.5 dB over the whole test split, is not reached yet).
    assert min(gains) > 0.4 and np.mean(gains) > 0.6


def test_shipped_prior_tiles_agree_with_the_whole_image(bccd_dir):
    if not _ships("prior"):
        pytest.skip("no shipped prior weights in weights/manifest.json")
    method = PriorMethod(CPU)
    # A 640x480 blood-smear field as the LR image: the x4 network (PriorLRVDSR) reaches 148 LR
    # pixels, so a tile is at least 3 margins + 2 = 446 wide and a smaller LR is never cut.
    lr = load_image(list_images(bccd_dir / "images")[0]).pixels
    whole = upscale(lr, method, 4, tile=0)
    tiled = upscale(lr, method, 4, tile=(lr.shape[1] + 3 * method.margin(4)) // 2 + 1)
    assert tiled.tiles >= 2  # the tiler's equal tiles with their 3-margin overlaps: 2 here
    # Tiles see the whole receptive field but pool with another phase: nearly, not bit, equal.
    assert (labels_of(whole.maps["parsing"]) == labels_of(tiled.maps["parsing"])).mean() > 0.97
    assert psnr(tiled.image, whole.image) > 45


def test_shipped_none_prior_beats_bicubic(wbc_dir):
    if not _ships("prior_none"):
        pytest.skip("no shipped prior_none weights in weights/manifest.json")
    method = NonePriorMethod(CPU)
    hr, _ = _held_out(wbc_dir, 1)[0]
    lr = bicubic_downscale(hr, 4)
    assert psnr_y(upscale(lr, method, 4, tile=0).image, hr, 4) > psnr_y(upscale(lr, "bicubic", 4).image, hr, 4)
