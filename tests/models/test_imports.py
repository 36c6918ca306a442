"""Importing models trained elsewhere (``import@<name>``): real files in every format, saved here
from tiny spandrel architectures, import in one step and serve like the shipped methods; bad
files are refused with one line and change nothing."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch

from microsr_core.models.catalog import method_catalog
from microsr_core.errors import ParameterError, WeightsError
from microsr_core.models.imports import add_model, add_upload, list_models, remove_model
from microsr_core.models.inference import upscale
from microsr_core.models.model_files import MAX_BYTES
from microsr_core.paths import imports_dir
from microsr_core.models.registry import create, method_names
from microsr_core.models.serving import served
from microsr_core.models.weights import sha256_of, update_card
from tests.helpers import save_foreign_model, tiny_foreign_model

pytestmark = pytest.mark.usefixtures("one_torch_thread", "microsr_home")


def _expected(net: torch.nn.Module, lr: np.ndarray) -> np.ndarray:
    """What the network itself computes for an RGB ``lr``, clipped like every method's output."""
    with torch.no_grad():
        out = net(torch.from_numpy(np.ascontiguousarray(lr.transpose(2, 0, 1)))[None]).clamp(0, 1)
    return out[0].numpy().transpose(1, 2, 0)


@pytest.mark.parametrize("kind, scale, suffix", [
    ("esrgan", 4, ".pth"), ("esrgan", 4, ".safetensors"), ("compact", 2, ".pth"), ("compact", 3, ".safetensors"), ("compact", 2, ".onnx"),
])
def test_a_model_file_imports_in_one_step_and_upscales_like_the_network(kind, scale, suffix, tmp_path, sample):
    net = tiny_foreign_model(kind, scale)
    path = save_foreign_model(net, tmp_path / f"{kind}{suffix}")
    card = add_model(path, "mine")
    architecture = "onnx" if suffix == ".onnx" else {"esrgan": "spandrel:ESRGAN", "compact": "spandrel:Compact"}[kind]
    served_scales = {2: [2], 3: [2, 3], 4: [2, 3, 4]}[scale]  # its own and, resized down, each shipped scale below it
    assert (card["architecture"], card["native_scale"], card["scales"], card["input_channels"], card["lr_kind"]) == (architecture, scale, served_scales, 3, "any")
    parameters = sum(p.numel() for p in net.parameters())
    assert card["parameters"] == parameters if suffix != ".onnx" else 0 <= card["parameters"] - parameters <= 8  # + resize factors
    assert card["sha256"] == sha256_of(path) == sha256_of(imports_dir() / card["file"])
    assert json.loads((imports_dir() / "manifest.json").read_text())["models"]["mine"] == card
    assert all(abs(card["bf16_delta_db"][str(s)]) < 0.5 for s in served_scales)  # measured: precision auto follows it
    assert "import@mine" in method_names() and "import" not in method_names()
    info = next(info for info in method_catalog() if info.name == "import@mine")
    assert info.available and info.scales_for("bicubic") == info.scales_for("real") == tuple(served_scales)

    lr = np.ascontiguousarray(sample[100:140, 200:252])
    result = upscale(lr, "import@mine", scale, tile=0, precision="fp32", lr_kind="real")
    assert result.image.shape == (40 * scale, 52 * scale, 3) and result.seconds > 0
    assert result.served == served("import@mine", scale, "real") and result.served.source == "imported"
    assert result.backend == ("openvino" if suffix == ".onnx" else "pytorch")
    np.testing.assert_allclose(result.image, _expected(net, lr), atol=1e-4)
    tiled = upscale(lr, "import@mine", scale, tile=20, precision="fp32")
    assert tiled.tiles > 1
    # the tile margin is the reach measured from an impulse: 4 LR px for Compact's 4 3x3 convolutions, + 1
    margin = create("import@mine", torch.device("cpu")).margin(scale)
    assert margin == 5 if kind == "compact" else 5 < margin <= 48
    np.testing.assert_allclose(tiled.image, result.image, atol=1e-4)  # so tiles change nothing


@pytest.mark.parametrize("channels", [3, 1])
def test_an_x4_model_serves_x2_and_x3_as_its_x4_output_resized_down(channels, tmp_path, sample):
    from microsr_core.imaging.degrade import imresize

    net = tiny_foreign_model("compact", 4, channels=channels)
    card = add_model(save_foreign_model(net, tmp_path / "compact4.safetensors"), "four")
    assert card["scales"] == [2, 3, 4] and "x2, x3 by resizing its x4 output" in card["summary"]
    lr = np.ascontiguousarray(sample[100:130, 200:244])
    native = upscale(lr, "import@four", 4, tile=0, precision="fp32").image
    for scale in (2, 3):
        result = upscale(lr, "import@four", scale, tile=0, precision="fp32")
        assert result.image.shape == (30 * scale, 44 * scale, 3) and result.served.scale == scale
        # every record of the result says it ran at x4 and was resized
        assert result.served.provenance()["resized_from_scale"] == 4
        assert result.served.label() == f"four (bicubic LR, run at x4, resized to x{scale})"
        np.testing.assert_allclose(result.image, np.clip(imresize(native, output_shape=(30 * scale, 44 * scale)), 0, 1), atol=1e-5)
        tiled = upscale(lr, "import@four", scale, tile=16, precision="fp32")
        assert tiled.tiles > 1
        np.testing.assert_allclose(tiled.image, result.image, atol=1e-4)  # the margin covers the resizing kernel too
    assert upscale(lr, "import@four", 4, tile=0, precision="fp32").served.label() == "four (bicubic LR)"
    method = create("import@four", torch.device("cpu"))
    assert method.margin(2) == method.margin(4) + 1


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_a_float16_model_file_runs_in_float32_as_the_rounded_network(suffix, tmp_path, sample):
    from microsr_core.models.model_files import read_state_dict

    net = tiny_foreign_model("compact", 2)
    path = save_foreign_model(net.half(), tmp_path / f"compact16{suffix}")  # shared in float16, as many are
    state = read_state_dict(path)
    assert {t.dtype for t in state.values()} == {torch.float32}  # measured and run in float32, narrowed only by the precision asked
    add_model(path, "half")
    lr = np.ascontiguousarray(sample[100:124, 200:228])
    result = upscale(lr, "import@half", 2, tile=0, precision="fp32")
    np.testing.assert_allclose(result.image, _expected(net.float(), lr), atol=1e-5)


def test_a_grayscale_model_runs_on_y_and_keeps_a_grey_image_grey(tmp_path, sample):
    net = tiny_foreign_model("compact", 2, channels=1, seed=3)
    card = add_model(save_foreign_model(net, tmp_path / "gray.safetensors"), "gray", scale=2)
    assert card["input_channels"] == 1 and "grayscale" in card["summary"]
    grey = np.repeat(sample[:32, :40].mean(axis=2, keepdims=True), 3, axis=2)
    image = upscale(grey, "import@gray", 2, precision="fp32").image
    with torch.no_grad():
        expected = net(torch.from_numpy(np.ascontiguousarray(grey[:, :, 0]))[None, None]).clamp(0, 1)[0, 0].numpy()
    for channel in range(3):
        np.testing.assert_allclose(image[:, :, channel], expected, atol=2e-4)


def test_evaluate_and_the_leaderboard_name_the_imported_weights(tmp_path, sample):
    from microsr_core.comparison.evaluate import evaluate_folder
    from microsr_core.imaging.io import save_image
    from microsr_core.comparison.reports import leaderboard, parse_evaluate

    card = add_model(save_foreign_model(tiny_foreign_model("compact", 2), tmp_path / "c.safetensors"), "evalme")
    for index in range(2):
        save_image(tmp_path / "hr" / f"{index}.png", sample[index * 64 : index * 64 + 48, :48])
    report = evaluate_folder(tmp_path / "hr", 2, ["bicubic", "import@evalme"], lr_kind="real")
    row = report["import@evalme"]
    assert (row["n"], row["weights_entry"], row["weights_sha256"], row["lr_kind"]) == (2, "evalme", card["sha256"], "real")
    assert 15 < row["psnr_y"] < 60 and row["psnr_y"] != report["bicubic"]["psnr_y"]
    board = leaderboard([parse_evaluate(report, tmp_path / "imported_bccd_test_x2.json")])
    assert [(r["method"], r["weights_entry"]) for r in board] == [("bicubic", "—"), ("import@evalme [imported]", "evalme")]


def test_replacing_and_removing_keep_one_file_per_model(tmp_path):
    first = add_model(save_foreign_model(tiny_foreign_model("compact", 2, seed=1), tmp_path / "a.pth"), "swap")
    with pytest.raises(ParameterError, match="an imported model named 'swap' exists already"):
        add_model(save_foreign_model(tiny_foreign_model("compact", 2, seed=2), tmp_path / "b.pth"), "swap")
    second = add_model(tmp_path / "b.pth", "swap", replace=True)
    assert second["sha256"] != first["sha256"]
    assert sorted(p.name for p in imports_dir().iterdir() if p.suffix == ".pth") == [second["file"]]
    assert create("import@swap", torch.device("cpu")).served(2).sha256 == second["sha256"]
    remove_model("swap")
    assert list_models() == {} and "import@swap" not in method_names()
    assert not any(p.suffix in (".pth", ".md") for p in imports_dir().iterdir())
    with pytest.raises(ParameterError, match="no imported model named 'swap'"):
        remove_model("swap")


def test_an_architecture_without_bf16_refuses_it_and_auto_runs_fp32(tmp_path, sample):
    add_model(save_foreign_model(tiny_foreign_model("compact", 2), tmp_path / "c.safetensors"), "nobf16")
    update_card("nobf16", {"precisions": ["fp32"], "bf16_delta_db": None}, imports_dir())  # what spandrel's supports_bfloat16=False writes
    lr = np.ascontiguousarray(sample[:16, :16])
    assert upscale(lr, "import@nobf16", 2).precision == "fp32"
    with pytest.raises(ParameterError, match=r"'import@nobf16' cannot run in bf16: its architecture \(spandrel:Compact\) supports fp32"):
        upscale(lr, "import@nobf16", 2, precision="bf16")


def test_a_network_returning_the_wrong_shape_is_an_error_not_an_image(tmp_path, sample):
    add_model(save_foreign_model(tiny_foreign_model("compact", 2), tmp_path / "c.safetensors"), "shape")
    method = create("import@shape", torch.device("cpu"))
    method.nets[2] = lambda x: x  # what a file that lost its upsampler would compute
    # the first call that shows it may be the margin's impulse probe (96x96) or the tile itself
    with pytest.raises(WeightsError, match=r"imported model 'shape' returned \(1, 3, (\d+), (\d+)\) for a \(1, 3, \1, \2\) input, not x2"):
        upscale(np.ascontiguousarray(sample[:16, :20]), method, 2)


class _RunsCode:
    """Unpickling this calls ``exec``, which would create ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').close()",)


class _Anisotropic(torch.nn.Module):
    """An ONNX graph whose output is 2x taller but 3x wider: no scale fits it."""

    def forward(self, x):
        return torch.nn.functional.interpolate(x, scale_factor=(2, 3), mode="nearest")


def _bad_files(tmp_path) -> dict[str, tuple]:
    """Each bad case: (file, add_model keywords, error type, message pattern)."""
    files = {}
    (tmp_path / "noise.pth").write_bytes(b"not a checkpoint" * 64)
    files["not a model (.pth)"] = (tmp_path / "noise.pth", {}, WeightsError, r"noise.pth is not a PyTorch weights file")
    (tmp_path / "noise.safetensors").write_bytes(b"\x10" * 300)
    files["not a model (.safetensors)"] = (tmp_path / "noise.safetensors", {}, WeightsError, r"noise.safetensors is not a safetensors file")
    (tmp_path / "photo.png").write_bytes(b"\x89PNG")
    files["not a model file"] = (tmp_path / "photo.png", {}, WeightsError, r"photo.png: not a model file MicroSR imports")
    from safetensors.torch import save_file

    save_file({"encoder.weight": torch.ones(4, 4)}, str(tmp_path / "classifier.safetensors"))
    files["unknown architecture"] = (tmp_path / "classifier.safetensors", {}, WeightsError, r"classifier.safetensors: unknown architecture")
    files["not SR"] = (save_foreign_model(tiny_foreign_model("esrgan", 1), tmp_path / "denoise.pth"), {}, WeightsError,
                       r"denoise.pth is a Restoration model at x1, not a super-resolution one")
    files["scale disagrees"] = (save_foreign_model(tiny_foreign_model("esrgan", 4), tmp_path / "x4.pth"), {"scale": 2}, ParameterError,
                                r"scale x2 disagrees with the file: spandrel:ESRGAN upscales x4")
    files["wrong shape"] = (save_foreign_model(_Anisotropic(), tmp_path / "stretch.onnx"), {}, WeightsError,
                            r"stretch.onnx returns the wrong shape: no integer scale .*17x19 -> 34x57")
    big = tmp_path / "huge.safetensors"
    with open(big, "wb") as handle:
        handle.truncate(MAX_BYTES + 1)  # sparse: the limit must refuse it from its size alone
    files["too big"] = (big, {}, WeightsError, r"huge.safetensors is 501 MB, over the 500 MB limit")
    torch.save({"conv.weight": torch.zeros(1), "hook": _RunsCode(tmp_path / "ran.txt")}, tmp_path / "trojan.pth")
    files["pickle with code"] = (tmp_path / "trojan.pth", {}, WeightsError,
                                 r"trojan.pth holds pickled Python code \(it calls exec\), which is refused")
    files["bad name"] = (tmp_path / "x4.pth", {"name": "../../etc"}, ParameterError, r"model name '../../etc' is not valid")
    return files


def _state_of_imports() -> dict[str, bytes]:
    folder = imports_dir()
    return {p.name: p.read_bytes() for p in folder.rglob("*") if p.is_file()} if folder.is_dir() else {}


def test_bad_files_are_refused_in_one_line_and_change_nothing(tmp_path):
    add_model(save_foreign_model(tiny_foreign_model("compact", 2), tmp_path / "good.pth"), "good")
    before = _state_of_imports()
    for case, (path, keywords, error, message) in _bad_files(tmp_path).items():
        with pytest.raises(error, match=message) as caught:
            add_model(path, **{"name": "bad", **keywords})
        assert "\n" not in str(caught.value), case
        assert _state_of_imports() == before, case
    assert list(list_models()) == ["good"]
    assert not (tmp_path / "ran.txt").exists()  # no code ran
    torch.load(tmp_path / "trojan.pth", weights_only=False)  # the file does run code when unpickled unrestricted
    assert (tmp_path / "ran.txt").exists()


def test_an_upload_over_the_limit_is_refused_before_it_is_read():
    class Unreadable(io.RawIOBase):
        def read(self, *_):
            raise AssertionError("the upload was read")

    with pytest.raises(WeightsError, match=r"big.pth is 1024 MB, over the 500 MB limit"):
        add_upload(Unreadable(), "big.pth", 2**30, "big")
    assert list_models() == {}
