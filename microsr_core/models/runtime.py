"""Optional CPU runtime for the networks: an ONNX export run by OpenVINO.

On the CPU a network runs faster in OpenVINO than in PyTorch: the shipped VDSR on a 480×640 Y
plane, one thread, with both cores loaded by trainings, took 31.8 s in PyTorch fp32, 8.1 s in
PyTorch bf16 autocast, 24.6 s in ONNX Runtime 1.32 fp32, 16.3 s in OpenVINO 2026.4 fp32 and
3.2 s in OpenVINO bf16 (AVX-512 BF16 + AMX machine), so OpenVINO is the runtime and ONNX Runtime
is not used; docs/benchmarks.md has the end-to-end figures.

The network is exported to ONNX once per weights file, cached as
``<MicroSR home>/cache/onnx-v<EXPORT_VERSION>/<weights sha256>.onnx``, and compiled by OpenVINO
once per precision on first use, with as many threads as torch uses. Precision comes from the
caller's autocast (:func:`microsr_core.models.precision.autocast`), so :func:`~microsr_core.models.inference.upscale`
drives both runtimes the same way. A traced graph is only valid for networks whose forward pass
does not branch on the input size: the U-Nets (``size_multiple`` > 1) get inputs padded by the
caller to a multiple of their pooling stride, so their traced pad is a no-op. Every export is
checked against PyTorch on an odd-sized input (rounded up to that multiple) (a failure is remembered beside
the cached file, ``<sha256>.rejected``); a network that fails the check, a missing ``openvino``/``onnx`` package or ``MICROSR_CPU_BACKEND=pytorch`` keeps PyTorch, which
also serves CUDA.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import threading
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.utils._pytree import tree_flatten, tree_unflatten

from ..errors import ParameterError
from ..paths import home_dir
from .precision import Float32Conv

#: Bump when the exported graph changes for the same weights (architecture code, export options).
EXPORT_VERSION = 2  # 2: U-Nets take inputs padded by the caller (their exports failed before)
BACKEND_CHOICES = ("auto", "pytorch", "openvino")
#: Largest difference from PyTorch (fp32, values in [0, 1]) an export may show on the check input.
CHECK_TOLERANCE = 1e-4
#: Sides (rows, columns) of the check input, odd so that a size-dependent graph shows.
CHECK_SIDES = (37, 53)


def backend_choice() -> str:
    """``$MICROSR_CPU_BACKEND`` (auto, pytorch or openvino; auto when unset)."""
    choice = os.environ.get("MICROSR_CPU_BACKEND", "auto").lower()
    if choice not in BACKEND_CHOICES:
        raise ParameterError(f"MICROSR_CPU_BACKEND is '{choice}'; choose from {', '.join(BACKEND_CHOICES)}")
    return choice


def usable_backends() -> list[str]:
    """The CPU backends networks may run in here: the one ``MICROSR_CPU_BACKEND`` names, or with
    ``auto`` PyTorch and, where its packages are installed, OpenVINO."""
    choice = backend_choice()
    if choice != "auto":
        return [choice]
    return ["pytorch"] + ([] if missing_packages() else ["openvino"])


def missing_packages() -> list[str]:
    """The packages the OpenVINO runtime needs that are not installed."""
    return [name for name in ("openvino", "onnx") if importlib.util.find_spec(name) is None]


def onnx_path(sha256: str) -> Path:
    return home_dir() / "cache" / f"onnx-v{EXPORT_VERSION}" / f"{sha256}.onnx"


class ExportMismatch(RuntimeError):
    """The exported graph does not compute what the PyTorch network computes."""


def input_channels(net: torch.nn.Module) -> int:
    """The channels of the image a network reads: its ``input_channels``, else its first convolution's input."""
    declared = getattr(net, "input_channels", None)
    return declared or next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d)).in_channels


class TwoPartConv(torch.nn.Module):
    """A :class:`Float32Conv` that OpenVINO's bf16 mode computes almost exactly.

    OpenVINO has no per-layer precision: with the bf16 hint it rounds every convolution's input
    and weights to bf16, which for the image itself cost the shipped VDSR 0.024 dB at x2 (see
    :mod:`microsr_core.models.precision`). Here both are split into a part bf16 holds exactly and the
    remainder: ``x = x_hi + x_lo`` with ``x_hi = round(256 x) / 256`` (exact in bf16 for x in
    [0, 1], which image convolutions read) and ``w = w_hi + w_lo`` (``w_hi`` = w rounded to
    bf16), and ``conv(x, w) ≈ conv([x_hi, x_lo, x_hi], [w_hi, w_hi, w_lo])``: three times the
    input channels of a layer that has at most three.
    """

    def __init__(self, conv: torch.nn.Conv2d):
        super().__init__()
        weight = conv.weight.detach().float()
        high = weight.to(torch.bfloat16).float()
        self.conv = torch.nn.Conv2d(3 * conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                                    bias=conv.bias is not None)
        with torch.no_grad():
            self.conv.weight.copy_(torch.cat([high, high, weight - high], dim=1))
            if conv.bias is not None:
                self.conv.bias.copy_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        high = torch.round(x * 256) / 256
        return self.conv(torch.cat([high, x - high, high], dim=1))


def _for_export(net: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``net`` with every :class:`Float32Conv` made a :class:`TwoPartConv`."""
    net = copy.deepcopy(net)
    for parent in list(net.modules()):
        for name, child in parent.named_children():
            if isinstance(child, Float32Conv):
                setattr(parent, name, TwoPartConv(child.conv))
    return net


class _TensorOutputs(torch.nn.Module):
    """The network with its outputs flattened to a tuple of tensors (what ONNX can express)."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        leaves, _ = tree_flatten(self.net(x))
        return tuple(leaf for leaf in leaves if leaf is not None)


def export_onnx(net: torch.nn.Module, path: Path) -> None:
    """Trace ``net`` (N, C, H, W) -> outputs into ``path`` with free H and W (atomic write)."""
    side = -(-48 // getattr(net, "size_multiple", 1)) * getattr(net, "size_multiple", 1)  # the traced pad is a no-op
    example = torch.rand(1, input_channels(net), side, side)
    net = _for_export(net)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.partial")
    with torch.no_grad():
        outputs = len(_TensorOutputs(net)(example))
    names = [f"out{i}" for i in range(outputs)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and deprecation chatter; the export is checked instead
        torch.onnx.export(
            _TensorOutputs(net).eval(), (example,), str(partial), input_names=["x"], output_names=names, dynamo=False,
            dynamic_axes={name: {2: "height", 3: "width"} for name in ["x", *names]},
        )
    partial.replace(path)


class OpenVINONetwork:
    """Callable like the PyTorch network it was exported from (same output structure)."""

    def __init__(self, net: torch.nn.Module, sha256: str):
        import openvino

        # Odd sides, rounded up to the multiple the caller pads to (NetworkMethod.forward).
        multiple = getattr(net, "size_multiple", 1)
        height, width = (-(-side // multiple) * multiple for side in CHECK_SIDES)
        check = torch.rand(1, input_channels(net), height, width, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            expected = net(check)
        leaves, self._structure = tree_flatten(expected)
        self._tensor_leaves = [leaf is not None for leaf in leaves]
        path = onnx_path(sha256)
        if not path.is_file():
            export_onnx(net, path)
        self._model = OpenVINOModel(openvino.Core().read_model(str(path)))
        try:
            got = tree_flatten(self(check))[0]
        except RuntimeError as exc:  # OpenVINO's own error for shapes the trace cannot take
            raise ExportMismatch(f"the ONNX export of {type(net).__name__} fails at {width}x{height}: {exc}") from exc
        for want, have in zip(leaves, got):
            if want is not None and (want.shape != have.shape or (want - have).abs().max() > CHECK_TOLERANCE):
                raise ExportMismatch(f"the ONNX export of {type(net).__name__} does not reproduce it at {width}x{height}")

    def __call__(self, x: torch.Tensor):
        tensors = iter(self._model.run(x))
        return tree_unflatten([next(tensors) if is_tensor else None for is_tensor in self._tensor_leaves], self._structure)


class OpenVINOModel:
    """An OpenVINO model (read from an ONNX file), compiled for the CPU once per precision.

    The caller's autocast says the precision, as it does for a PyTorch network, so
    :func:`~microsr_core.models.inference.upscale` drives both the same way.
    """

    def __init__(self, model):
        self._model = model
        self._compiled: dict[str, object] = {}
        self._lock = threading.Lock()

    def _compiled_for(self, precision: str):
        with self._lock:
            if precision not in self._compiled:
                import openvino

                # No pinning: OpenVINO pins each process's threads from core 0 up, without knowing of
                # the others, so two Dask workers on one machine both ran on core 0 (two 1-thread
                # processes: 93 inferences each pinned, 193 and 169 unpinned, in 12 s on 2 cores).
                config = {"INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
                          "PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": torch.get_num_threads(),
                          "ENABLE_CPU_PINNING": False}
                self._compiled[precision] = openvino.Core().compile_model(self._model, "CPU", config)
            return self._compiled[precision]

    def run(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every output for the (N, C, H, W) input ``x``, as CPU float32 tensors."""
        reduced = torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
        compiled = self._compiled_for("bf16" if reduced else "fp32")
        request = compiled.create_infer_request()  # one per call: requests are not thread-safe
        request.infer({0: np.ascontiguousarray(x.detach().float().cpu().numpy())})
        return [torch.from_numpy(request.get_output_tensor(i).data.copy()) for i in range(len(compiled.outputs))]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The first output: what a single-output model (an imported ONNX file) computes."""
        return self.run(x)[0]


def cpu_runtime(net: torch.nn.Module, sha256: str, choice: str | None = None) -> OpenVINONetwork | None:
    """OpenVINO for ``net`` where the backend ``choice`` (default :func:`backend_choice`) and the
    installed packages allow it, else None. The choice is an argument, never an environment write:
    networks are created in app threads, where another session's choice must not leak in."""
    choice = choice or backend_choice()
    if choice not in BACKEND_CHOICES:
        raise ParameterError(f"backend is '{choice}'; choose from {', '.join(BACKEND_CHOICES)}")
    if choice == "pytorch":
        return None
    missing = missing_packages()
    if missing:
        if choice == "openvino":
            raise ParameterError(f"MICROSR_CPU_BACKEND=openvino but {', '.join(missing)} is not installed")
        return None
    rejected = onnx_path(sha256).with_suffix(".rejected")
    if rejected.is_file() and choice == "auto":
        return None
    try:
        return OpenVINONetwork(net, sha256)
    except Exception as exc:  # noqa: BLE001  any failure of the optional runtime leaves PyTorch working
        if isinstance(exc, ExportMismatch):
            rejected.write_text(f"{exc}\n")
        if choice == "openvino":
            raise
        warnings.warn(f"OpenVINO not used for {type(net).__name__} ({exc}); running it in PyTorch")
        return None
