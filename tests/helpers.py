"""Test helpers: tiny networks published into a private weights folder; pyramidal OME-TIFF slides; a full disk."""

from __future__ import annotations

import errno
import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
import tifffile
import torch
from safetensors.torch import save_file

from microsr_core.models.archs import build_architecture
from microsr_core.models.weights import sha256_of


def publish_random(folder: Path, name: str, method: str, architecture: str, scales, seed: int = 0, card_fields: dict | None = None,
                   **arch_kwargs) -> torch.nn.Module:
    """Write a randomly initialised network as manifest entry ``name`` in ``folder``; ``card_fields``
    (``lr_kind``, ``role``, ``bf16_delta_db``) go on its card.

    Every parameter is re-drawn so that no layer is zero (a zero last layer would make a
    residual network the identity and hide tiling errors).
    """
    torch.manual_seed(seed)
    net = build_architecture(architecture, **arch_kwargs)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.normal_(0, 0.05)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(net.state_dict(), str(folder / f"{name}.safetensors"))
    cards = json.loads((folder / "manifest.json").read_text())["models"] if (folder / "manifest.json").exists() else {}
    cards[name] = {
        "file": f"{name}.safetensors",
        "sha256": sha256_of(folder / f"{name}.safetensors"),
        "method": method,
        "architecture": architecture,
        "arch_kwargs": arch_kwargs,
        "scales": list(scales),
        **(card_fields or {}),
    }
    (folder / "manifest.json").write_text(json.dumps({"models": cards}))
    return net


def tiny_foreign_model(kind: str, scale: int, channels: int = 3, seed: int = 0) -> torch.nn.Module:
    """A small SR network of an architecture spandrel detects, as others train them: ``esrgan``
    (RRDBNet, one block of 8 features) or ``compact`` (Real-ESRGAN's SRVGGNetCompact, 2 convs)."""
    from spandrel.architectures.Compact import Compact
    from spandrel.architectures.ESRGAN import ESRGAN

    torch.manual_seed(seed)
    if kind == "esrgan":
        net = ESRGAN(in_nc=channels, out_nc=channels, num_filters=8, num_blocks=1, scale=scale)
    else:
        net = Compact(num_in_ch=channels, num_out_ch=channels, num_feat=8, num_conv=2, upscale=scale)
    with torch.no_grad():  # trained-looking: no two tensors alike (an exporter would merge equal ones)
        for parameter in net.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.02)
    return net.eval()


def save_foreign_model(net: torch.nn.Module, path: Path) -> Path:
    """Save ``net`` the way other tools do: a state dict as ``.safetensors`` or ``torch.save`` ``.pth``
    (wrapped in ``params_ema`` like BasicSR), or a traced ``.onnx`` export with free height and width."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        save_file(net.state_dict(), str(path))
    elif path.suffix == ".onnx":
        channels = next(net.parameters(), torch.zeros(1, 3)).shape[1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation notices
            torch.onnx.export(net, (torch.rand(1, channels, 32, 32),), str(path), input_names=["x"], output_names=["y"], dynamo=False,
                              dynamic_axes={"x": {2: "h", 3: "w"}, "y": {2: "h", 3: "w"}})
    else:
        torch.save({"params_ema": net.state_dict()}, path)
    return path


def write_pyramid(path, pixels: np.ndarray, levels: int = 3) -> None:
    """An OME-TIFF with ``levels`` levels (each half the one above) in SubIFDs, tiled 256 x 256."""
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        tif.write(pixels, subifds=levels - 1, tile=(256, 256), metadata={"axes": "YXS", "PhysicalSizeX": 0.25, "PhysicalSizeY": 0.25})
        for level in range(1, levels):
            tif.write(pixels[:: 2**level, :: 2**level], subfiletype=1, tile=(256, 256))


def slide_pixels(height: int, width: int) -> np.ndarray:
    """A slide's level 0 as 8-bit RGB: the built-in sample tiled, every tile flipped differently."""
    from microsr_core.imaging.io import sample_image

    tile = np.round(sample_image() * 255).astype(np.uint8)
    rows, cols = -(-height // tile.shape[0]), -(-width // tile.shape[1])
    grid = [np.concatenate([tile[:: 1 - 2 * (r % 2), :: 1 - 2 * (c % 2)] for c in range(cols)], axis=1) for r in range(rows)]
    return np.concatenate(grid, axis=0)[:height, :width]


def full_disk(monkeypatch, written: float = 0.5) -> None:
    """While patched, a temporary file's write puts ``written`` of its bytes on disk, then fails as a full disk does."""
    real = tempfile.NamedTemporaryFile

    def opened(*args, **kwargs):
        out = real(*args, **kwargs)

        def write(data):
            out.file.write(data[: int(len(data) * written)])
            out.file.flush()
            raise OSError(errno.ENOSPC, "No space left on device")

        out.write = write
        return out

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", opened)
