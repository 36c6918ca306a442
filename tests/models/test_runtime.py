"""The OpenVINO CPU runtime: same outputs as PyTorch, cached export, fallbacks."""

import warnings

import numpy as np
import pytest
import torch

from microsr_core.models import runtime
from microsr_core.errors import ParameterError
from microsr_core.models.inference import upscale
from microsr_core.models.registry import create, method_class
from microsr_core.models.weights import model_card
from tests.helpers import publish_random

CPU = torch.device("cpu")
needs_openvino = pytest.mark.skipif(bool(runtime.missing_packages()), reason="openvino or onnx is not installed")


@pytest.fixture
def weights(tmp_path, monkeypatch, microsr_home):
    folder = tmp_path / "weights"
    monkeypatch.setenv("MICROSR_WEIGHTS", str(folder))
    publish_random(folder, "vdsr", "vdsr", "VDSR", (2, 3, 4), depth=6, channels=8)
    publish_random(folder, "microgan", "microgan", "MicroGANGenerator", (1, 2), levels=2, width=4)
    return folder


def _create(method: str, backend: str, monkeypatch):
    monkeypatch.setenv("MICROSR_CPU_BACKEND", backend)
    return create(method, CPU)


@needs_openvino
def test_openvino_matches_pytorch_and_exports_once(weights, microsr_home, monkeypatch, sample):
    lr = sample[:37, :45]
    openvino = _create("vdsr", "openvino", monkeypatch)
    pytorch = _create("vdsr", "pytorch", monkeypatch)
    assert (openvino.backend, pytorch.backend) == ("openvino", "pytorch")
    cached = runtime.onnx_path(model_card("vdsr", weights)["sha256"])
    assert cached.is_file() and microsr_home in cached.parents
    for tile in (0, 24):  # odd sizes, whole and tiled: the graph takes any height and width
        exact = upscale(lr, pytorch, 3, tile=tile, precision="fp32")
        result = upscale(lr, openvino, 3, tile=tile, precision="fp32")
        assert (result.backend, result.precision) == ("openvino", "fp32")
        np.testing.assert_allclose(result.image, exact.image, atol=1e-5)
    reduced = upscale(lr, openvino, 3, precision="bf16")
    assert 0 < np.abs(reduced.image - exact.image).max() < 0.01

    monkeypatch.setattr(runtime, "export_onnx", lambda *args: pytest.fail("exported again"))
    assert _create("vdsr", "openvino", monkeypatch).backend == "openvino"


@needs_openvino
def test_compiled_networks_leave_their_threads_unpinned(weights, monkeypatch, sample):
    # Pinned, two 1-thread worker processes of one machine both ran on core 0 (the second core idle).
    openvino = _create("vdsr", "openvino", monkeypatch)
    upscale(sample[:24, :24], openvino, 2, precision="fp32")
    compiled = [model._compiled["fp32"] for model in _openvino_models(openvino)]
    assert compiled and all(c.get_property("ENABLE_CPU_PINNING") is False for c in compiled)


def _openvino_models(method) -> list:
    """The :class:`runtime.OpenVINOModel` objects a method's networks run through."""
    found = [value._model for value in vars(method).values() if isinstance(value, runtime.OpenVINONetwork)]
    for value in vars(method).values():
        if isinstance(value, dict):
            found += [v._model for v in value.values() if isinstance(v, runtime.OpenVINONetwork)]
    return found


@needs_openvino
def test_a_unet_runs_in_openvino_at_any_size(weights, monkeypatch, sample):
    # The caller pads to the pooling multiple, so the graph traced at one size takes every size.
    lr = sample[:37, :45]
    openvino = _create("microgan", "openvino", monkeypatch)
    pytorch = _create("microgan", "pytorch", monkeypatch)
    assert openvino.backend == "openvino"
    for tile in (0, 30):
        exact = upscale(lr, pytorch, 2, tile=tile, precision="fp32")
        np.testing.assert_allclose(upscale(lr, openvino, 2, tile=tile, precision="fp32").image, exact.image, atol=1e-5)


@needs_openvino
@pytest.mark.parametrize("native", [True, False])
def test_a_network_whose_bf16_passes_in_pytorch_only_runs_there_in_bf16(native, tmp_path, monkeypatch, microsr_home, sample):
    """OpenVINO rounds every layer in bf16, PyTorch's autocast keeps some float32: where only
    PyTorch's bf16 passes the guard and the CPU runs bf16 natively, auto runs it there in bf16
    (faster than OpenVINO in fp32); a backend the user names is kept, in fp32."""
    from microsr_core.models import precision

    folder = tmp_path / "weights"
    monkeypatch.setenv("MICROSR_WEIGHTS", str(folder))
    monkeypatch.setattr(precision, "cpu_probe", lambda: {"bf16_faster": native})  # what auto precision follows
    by_backend = {"pytorch": {"2": 0.004}, "openvino": {"2": -0.05}}
    publish_random(folder, "vdsr_x2", "vdsr", "VDSR", (2,), depth=3, channels=8,
                   card_fields={"bf16_delta_db": {"2": -0.05}, "bf16_delta_db_by_backend": by_backend})
    lr = sample[:24, :24]
    auto = _create("vdsr", "auto", monkeypatch)
    assert auto.backend_at(2) == ("pytorch" if native else "openvino")
    assert upscale(lr, auto, 2, precision="auto").precision == ("bf16" if native else "fp32")
    named = _create("vdsr", "openvino", monkeypatch)
    assert named.backend_at(2) == "openvino" and upscale(lr, named, 2, precision="auto").precision == "fp32"


@needs_openvino
def test_an_export_that_does_not_reproduce_stays_in_pytorch_and_is_remembered(weights, monkeypatch):
    monkeypatch.setattr(runtime, "CHECK_TOLERANCE", -1.0)  # every comparison with PyTorch fails
    with pytest.warns(UserWarning, match="OpenVINO not used for MicroGANGenerator"):
        assert _create("microgan", "auto", monkeypatch).backend == "pytorch"
    # The rejection is remembered beside the cache: no second export, no second warning.
    monkeypatch.setattr(runtime, "export_onnx", lambda *args: pytest.fail("exported again"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _create("microgan", "auto", monkeypatch).backend == "pytorch"


def test_without_the_packages_auto_means_pytorch(weights, monkeypatch):
    monkeypatch.setattr(runtime, "missing_packages", lambda: ["openvino"])
    assert _create("vdsr", "auto", monkeypatch).backend == "pytorch"
    with pytest.raises(ParameterError, match="openvino is not installed"):
        _create("vdsr", "openvino", monkeypatch)
    with pytest.raises(ParameterError, match="MICROSR_CPU_BACKEND is 'tpu'"):
        _create("vdsr", "tpu", monkeypatch)


def test_two_part_convolution_equals_the_convolution():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(1, 8, 3, padding=1)
    x = torch.rand(1, 1, 20, 20)
    with torch.no_grad():
        torch.testing.assert_close(runtime.TwoPartConv(conv)(x), conv(x), atol=1e-5, rtol=0)  # fp32 summation order
        # The part bf16 must hold exactly is exact in bf16; the rest is below half a step.
        high = torch.round(x * 256) / 256
        assert torch.equal(high.to(torch.bfloat16).float(), high) and (x - high).abs().max() <= 1 / 512


@needs_openvino
def test_a_backend_chosen_in_one_thread_does_not_reach_a_network_created_in_another(weights, microsr_home):
    """The bf16 gate measures each backend while the app's other sessions create networks: the
    choice is an argument, so a method created meanwhile in another thread keeps the environment's."""
    import threading

    created: dict[str, list[str]] = {"openvino": [], "default": []}
    start = threading.Barrier(2)

    def make(kind: str) -> None:
        start.wait()
        for _ in range(3):
            method = method_class("vdsr")(CPU, backend="openvino") if kind == "openvino" else create("vdsr", CPU)
            created[kind].append(method.backend)

    threads = [threading.Thread(target=make, args=(kind,)) for kind in created]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert created == {"openvino": ["openvino"] * 3, "default": ["pytorch"] * 3}  # conftest's environment: pytorch


def test_no_package_code_writes_the_environment_or_the_working_directory():
    import ast
    from pathlib import Path

    writes = []
    for path in Path(runtime.__file__).resolve().parents[1].rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.func if isinstance(node, ast.Call) else None
            text = ast.unparse(target) if target is not None else ""
            if text.startswith("os.environ[") or text in ("os.environ.pop", "os.environ.update", "os.environ.setdefault", "os.putenv", "os.chdir"):
                writes.append(f"{path.name}:{node.lineno} {text}")
    assert writes == []
