"""Model files made elsewhere, read safely: what network they hold and what it needs.

- ``.safetensors`` is read by :func:`safetensors.torch.load_file`, ``.pth``/``.pt``/``.ckpt``
  only by ``torch.load(weights_only=True)``: neither can run code, and a pickle that asks for a
  Python object is refused with the object it names. spandrel detects the architecture from the
  state dict and builds the PyTorch network.
- ``.onnx`` is run by OpenVINO. An ONNX file says little about itself, so the scale, the
  channels and the size multiple are measured on probe inputs.

:func:`describe` turns a file into the model card fields of an imported model (what
:mod:`microsr_core.models.imports` writes); :func:`load_network` builds the network from such a card.
Both only read: nothing here writes a file.
"""

from __future__ import annotations

import math
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from ..errors import WeightsError
from .runtime import OpenVINOModel, missing_packages
from .weights import as_float32, sha256_of

#: Largest model file accepted (checked before reading it), in MB as Streamlit counts them (2^20
#: bytes). At most 500: the browser's upload box writes a larger limit in GB, rounded (512 read "1GB").
MAX_MB = 500
MAX_BYTES = MAX_MB * 2**20
STATE_DICT_SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt")
ONNX_SUFFIX = ".onnx"
SUFFIXES = (*STATE_DICT_SUFFIXES, ONNX_SUFFIX)
#: Channels of the images an imported network may take and give: RGB, or grayscale run on Y.
CHANNELS = (1, 3)


def _probe_size(multiple: int) -> tuple[int, int]:
    """(height, width) of at least 16 px, odd multiples of ``multiple`` (so not of twice it)."""
    odd = math.ceil(16 / multiple) | 1
    return multiple * odd, multiple * (odd + 2)


#: ONNX probe input size for each candidate size multiple: the first multiple whose probe gives an
#: output of one integer scale both ways is the model's.
ONNX_PROBES = {multiple: _probe_size(multiple) for multiple in (1, 2, 4, 8, 16, 32)}


def checked_file(path: Path) -> str:
    """The format-defining suffix of ``path`` after checking it is a model file of a known kind
    and at most :data:`MAX_BYTES` (from its size on disk, before reading it)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise WeightsError(f"{path.name}: not a model file MicroSR imports (use {', '.join(SUFFIXES)})")
    if not path.is_file():
        raise WeightsError(f"model file {path} does not exist")
    checked_size(path.name, path.stat().st_size)
    return suffix


def checked_size(name: str, size: int) -> None:
    if size > MAX_BYTES:
        raise WeightsError(f"{name} is {math.ceil(size / 2**20)} MB, over the {MAX_MB} MB limit for imported models: "
                           "export a smaller model (fp16 weights, or fewer blocks) and import that")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``.safetensors`` or ``.pth``/``.pt``/``.ckpt`` file, unwrapped from the
    usual containers (``params_ema``, ``state_dict``, ``module.`` prefixes...) by spandrel, the
    floating-point ones in float32 (files are often shared in float16; the networks run and are
    measured in float32, narrowed only by the precision a run asks for)."""
    from spandrel import canonicalize_state_dict

    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as exc:  # safetensors raises its own error type for a bad header
            raise WeightsError(f"{path.name} is not a safetensors file ({exc})") from exc
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
            if found is None:
                raise WeightsError(f"{path.name} is not a PyTorch weights file ({_first_line(exc)})") from exc
            raise WeightsError(f"{path.name} holds pickled Python code (it calls {found.group(1)}), which is refused: "
                               "MicroSR reads .pth files with torch.load(weights_only=True), plain tensors only "
                               "(save torch.save(model.state_dict()) or .safetensors)") from None
        except Exception as exc:  # torch raises several types for a file that is not a checkpoint
            raise WeightsError(f"{path.name} is not a PyTorch weights file ({_first_line(exc)})") from exc
    if not isinstance(state, dict):
        raise WeightsError(f"{path.name} holds a {type(state).__name__}, not a state dict of tensors")
    state = canonicalize_state_dict(state)
    tensors = {key: value for key, value in state.items() if isinstance(value, torch.Tensor)}
    if not tensors:
        raise WeightsError(f"{path.name} holds no tensors, so it is not a model")
    return as_float32(tensors)


def _first_line(exc: Exception) -> str:
    """The part of an error message that says what is wrong (torch's unpickler buries it after advice)."""
    text = str(exc).rpartition("WeightsUnpickler error:")[2]
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line if line and not line.isdigit() else f"{type(exc).__name__} {line}".strip()


def _descriptor(state: dict[str, torch.Tensor], name: str):
    """spandrel's model descriptor for ``state``: an unknown architecture is a :class:`WeightsError`."""
    from spandrel import ModelLoader, UnsupportedModelError

    try:
        return ModelLoader().load_from_state_dict(state)
    except UnsupportedModelError:
        keys = ", ".join(list(state)[:3])
        raise WeightsError(f"{name}: unknown architecture (spandrel recognises none from its {len(state)} tensors: {keys}, ...)") from None
    except Exception as exc:  # an architecture matched its keys but its shapes do not fit
        raise WeightsError(f"{name}: the tensors do not fit the architecture they look like ({_first_line(exc)})") from exc


def _checked_image_model(name: str, purpose: str, scale: int, channels_in: int, channels_out: int) -> None:
    if purpose != "SR" or scale < 2:
        raise WeightsError(f"{name} is a {purpose} model at x{scale}, not a super-resolution one (MicroSR imports SR models only)")
    if channels_in not in CHANNELS or channels_out != channels_in:
        raise WeightsError(f"{name} maps {channels_in} channel(s) to {channels_out}; MicroSR runs RGB (3 to 3) "
                           "or grayscale (1 to 1, on Y) models")


def _spandrel_facts(path: Path) -> dict[str, Any]:
    descriptor = _descriptor(read_state_dict(path), path.name)
    _checked_image_model(path.name, descriptor.purpose, descriptor.scale, descriptor.input_channels, descriptor.output_channels)
    requirements = descriptor.size_requirements
    return {
        "format": "spandrel", "architecture": f"spandrel:{descriptor.architecture.id}", "tags": list(descriptor.tags),
        "scales": [descriptor.scale], "input_channels": descriptor.input_channels,
        "parameters": sum(p.numel() for p in descriptor.model.parameters()),
        "size_minimum": requirements.minimum, "size_multiple": requirements.multiple_of, "size_square": requirements.square,
        "tiling": descriptor.tiling.name.lower(),
        "precisions": ["fp32", *(["bf16"] if descriptor.supports_bfloat16 else []), *(["fp16"] if descriptor.supports_half else [])],
    }


def _openvino_model(path: Path):
    """The OpenVINO model of an ONNX file, with free height and width (it must take any size)."""
    if missing_packages():
        raise WeightsError(f"{path.name}: importing ONNX models needs {', '.join(missing_packages())} (pip install -r requirements.txt)")
    import openvino

    try:
        model = openvino.Core().read_model(str(path))
    except Exception as exc:  # OpenVINO's own error for a file that is not a model
        raise WeightsError(f"{path.name} is not an ONNX model OpenVINO reads ({_first_line(exc)})") from exc
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise WeightsError(f"{path.name} has {len(model.inputs)} input(s) and {len(model.outputs)} output(s); an SR model has one of each")
    shape = model.inputs[0].get_partial_shape()
    if shape.rank.is_dynamic or shape.rank.get_length() != 4 or shape[1].is_dynamic:
        raise WeightsError(f"{path.name} takes input {shape}; MicroSR needs (batch, channels, height, width) with fixed channels")
    if shape[2].is_static or shape[3].is_static:
        try:
            model.reshape({model.inputs[0]: openvino.PartialShape([1, shape[1].get_length(), -1, -1])})
        except Exception as exc:  # a graph whose shapes are baked in
            raise WeightsError(f"{path.name} takes only {shape[2]}x{shape[3]} inputs and cannot be made to take any size "
                               f"({_first_line(exc)})") from exc
    return model


def _onnx_facts(path: Path) -> dict[str, Any]:
    model = _openvino_model(path)
    channels = model.inputs[0].get_partial_shape()[1].get_length()
    network = OpenVINOModel(model)
    shapes = []
    for multiple, (height, width) in ONNX_PROBES.items():
        x = torch.rand(1, channels, height, width, generator=torch.Generator().manual_seed(0))
        try:
            out = network(x)
        except Exception:  # noqa: BLE001  a size the graph cannot take: try the next multiple
            continue
        shapes.append(f"{height}x{width} -> {'x'.join(map(str, out.shape[2:]))}")
        scale, rest = divmod(out.shape[-2], height)
        if out.ndim == 4 and scale >= 1 and rest == 0 and out.shape[-1] == scale * width:
            _checked_image_model(path.name, "SR" if scale > 1 else "Restoration", scale, channels, out.shape[1])
            return {"format": "onnx", "architecture": "onnx", "scales": [scale], "input_channels": channels,
                    "parameters": _onnx_parameters(path), "size_minimum": min(height, width), "size_multiple": multiple,
                    "size_square": False, "tiling": "supported", "precisions": ["fp32", "bf16"]}
    if shapes:
        raise WeightsError(f"{path.name} returns the wrong shape: no integer scale maps its probe inputs to its outputs ({', '.join(shapes)})")
    raise WeightsError(f"{path.name} fails on every probe input ({', '.join(f'{h}x{w}' for h, w in ONNX_PROBES.values())})")


def _onnx_parameters(path: Path) -> int | None:
    """The number of floating-point values in an ONNX file's initializers and constants: its
    weights, give or take a few constants such as resize factors (None without the onnx package)."""
    try:
        import onnx
    except ImportError:
        return None
    graph = onnx.load(str(path), load_external_data=False).graph
    tensors = [*graph.initializer, *(attribute.t for node in graph.node if node.op_type == "Constant" for attribute in node.attribute
                                     if attribute.type == onnx.AttributeProto.TENSOR)]
    floats = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16, onnx.TensorProto.DOUBLE)
    return sum(math.prod(tensor.dims) for tensor in tensors if tensor.data_type in floats)


def describe(path: Path) -> dict[str, Any]:
    """The card fields of model file ``path``: ``format`` (spandrel or onnx), ``architecture``,
    ``scales``, ``input_channels``, ``parameters``, ``size_minimum``/``size_multiple``/``size_square``,
    ``tiling``, ``precisions`` (what it may run in). A file that is not an SR model MicroSR can
    run is a :class:`WeightsError` saying why."""
    path = Path(path)
    suffix = checked_file(path)
    return _onnx_facts(path) if suffix == ONNX_SUFFIX else _spandrel_facts(path)


def load_network(card: dict[str, Any], folder: Path) -> torch.nn.Module | OpenVINOModel:
    """The network of an imported model's card (file in ``folder``, checksum checked): a PyTorch
    module in eval mode, or an :class:`~microsr_core.models.runtime.OpenVINOModel` for ONNX."""
    path = folder / card["file"]
    if not path.is_file():
        raise WeightsError(f"weights file {path} of an imported model is missing")
    if sha256_of(path) != card["sha256"]:
        raise WeightsError(f"weights file {path} does not have the sha256 its card says: the file is damaged or was replaced")
    if card["format"] == "onnx":
        return OpenVINOModel(_openvino_model(path))
    return _descriptor(read_state_dict(path), path.name).model.eval()
