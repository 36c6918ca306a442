"""Importing SR models trained elsewhere: each becomes method ``import@<name>``.

:func:`add_model` reads a ``.safetensors``, ``.pth``/``.pt``/``.ckpt`` or ``.onnx`` file
(:mod:`microsr_core.models.model_files`: no code runs), runs it once on a crop of the built-in sample,
measures bf16 against fp32 where the architecture runs bf16, copies the file into
``$MICROSR_HOME/imports/`` under a name made from the model name and checksum, and writes its
card into ``manifest.json`` there (atomically). A file that cannot be served is refused with one
line saying why, and nothing changes. The method itself is
:class:`~microsr_core.models.methods.imported.ImportedMethod`.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from ..errors import MicroSRError, ParameterError, WeightsError
from .bf16_gate import measure_bf16
from .inference import upscale
from ..imaging.io import sample_image
from .methods.imported import ImportedMethod
from .model_files import SUFFIXES, checked_size, describe
from ..paths import imports_dir, resolve_inside
from .serving import ANY_KIND, IMPORTED, card_weights, native_scale
from .weights import read_manifest, remove_card, sha256_of, write_card

#: What an imported model may be called (it becomes part of a file name and of ``import@<name>``).
NAME_PATTERN = re.compile(r"[a-z0-9_-]{1,40}")
#: LR side of the crop every import is run on once before it is installed.
PROBE_SIDE = 24
#: Scales an imported model also serves below its own, by resizing its output down (the
#: ``--outscale`` of Real-ESRGAN's inference script), so that it joins every comparison at them.
OUTSCALES = (2, 3, 4)
CHANNEL_NAMES = {1: "grayscale (Y)", 3: "RGB"}


def checked_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ParameterError(f"model name '{name}' is not valid: use 1 to 40 of a-z, 0-9, _ and -")
    return name


def list_models() -> dict[str, dict[str, Any]]:
    """Every imported model's card, by name."""
    return read_manifest(imports_dir())


def _check_runs(name: str, card: dict[str, Any]) -> None:
    """Run the model once on a real crop (tiled, as it will be served) and check the output shape."""
    scale = card["native_scale"]
    lr = np.ascontiguousarray(sample_image()[:PROBE_SIDE, : PROBE_SIDE + 8])
    try:
        method = ImportedMethod(torch.device("cpu"), name, weights=card_weights(f"{IMPORTED}@{name}", name, card))
        image = upscale(lr, method, scale, precision="fp32").image
    except MicroSRError:
        raise
    except Exception as exc:  # noqa: BLE001  whatever a foreign network raises, it cannot be served
        raise WeightsError(f"{card['source_file']} fails on a {lr.shape[1]}x{lr.shape[0]} image: {exc}") from exc
    if image.shape != (lr.shape[0] * scale, lr.shape[1] * scale, 3) or not np.isfinite(image).all():
        raise WeightsError(f"{card['source_file']} returned a {image.shape} image with non-finite values or the wrong shape "
                           f"for a {lr.shape} input at x{scale}")


def served_scales(native: int) -> list[int]:
    """The scales a model of scale ``native`` serves: its own, and each of :data:`OUTSCALES` below it."""
    return [s for s in OUTSCALES if s < native] + [native]


def summary(card: dict[str, Any]) -> str:
    """``spandrel:ESRGAN x4 (x2, x3 by resizing its x4 output), RGB, 16.7 M parameters, from
    RealESRGAN_x4plus.pth`` (a card's summary)."""
    count = card.get("parameters")
    parameters = "" if count is None else f", {count:,} parameters" if count < 10**6 else f", {count / 1e6:.1f} M parameters"
    native = native_scale(card)
    below = [f"x{s}" for s in card["scales"] if s != native]
    resized = f" ({', '.join(below)} by resizing its x{native} output)" if below else ""
    return (f"{card['architecture']} x{native}{resized}, {CHANNEL_NAMES[card['input_channels']]}{parameters}, "
            f"from {card['source_file']}")


def add_model(file: str | Path, name: str, scale: int | None = None, replace: bool = False,
              source_name: str | None = None) -> dict[str, Any]:
    """Import model file ``file`` as method ``import@<name>`` and return its card.

    ``scale``, when given, must be the scale detected in the file. ``replace`` allows a name in
    use. ``source_name`` is the file's original name (an upload's), recorded on the card.

    Raises
    ------
    ParameterError
        A bad name, a name in use without ``replace``, a ``scale`` the file disagrees with.
    WeightsError
        The file is too large, unreadable, a pickle with code, an unknown architecture, not SR,
        or does not run and return the right shape.
    """
    name = checked_name(name)
    folder = imports_dir()
    installed = read_manifest(folder)
    if name in installed and not replace:
        raise ParameterError(f"an imported model named '{name}' exists already (choose another name, or replace it)")
    path = Path(file)
    facts = describe(path)  # checks the size and suffix first
    suffix = path.suffix.lower()
    detected = facts["scales"][0]
    if scale is not None and int(scale) != detected:
        raise ParameterError(f"scale x{scale} disagrees with the file: {facts['architecture']} upscales x{detected}")
    sha256 = sha256_of(path)
    card = {"method": IMPORTED, "lr_kind": ANY_KIND, **facts, "native_scale": detected, "scales": served_scales(detected),
            "sha256": sha256, "file": f"{name}-{sha256[:12]}{suffix}", "source_file": source_name or path.name}
    card["summary"] = summary(card)
    folder.mkdir(parents=True, exist_ok=True)
    target = resolve_inside(folder, card["file"])
    fresh = not target.exists()  # the same file imported again under its name is already there
    if fresh:
        partial = target.with_name(target.name + ".partial")
        shutil.copyfile(path, partial)
        partial.replace(target)
    try:
        _check_runs(name, card)
        if "bf16" in card["precisions"]:
            card.update(measure_bf16(f"{IMPORTED}@{name}", name, card))
        write_card(folder, name, card)
    except BaseException:
        if fresh:
            target.unlink(missing_ok=True)
        raise
    if name in installed and installed[name]["file"] != card["file"]:
        resolve_inside(folder, installed[name]["file"]).unlink(missing_ok=True)
    return card


def add_upload(upload: BinaryIO, filename: str, size: int, name: str, scale: int | None = None,
               replace: bool = False) -> dict[str, Any]:
    """:func:`add_model` for an uploaded file: ``size`` is checked before anything is read, then
    the upload is streamed to a temporary file in the imports folder (removed afterwards)."""
    checked_name(name)
    suffix = Path(filename).suffix.lower()
    if suffix not in SUFFIXES:
        raise WeightsError(f"{filename}: not a model file MicroSR imports (use {', '.join(SUFFIXES)})")
    checked_size(filename, size)
    folder = imports_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".upload-") as scratch:
        path = resolve_inside(scratch, Path(filename).name)  # under its own name, which errors quote
        with open(path, "wb") as handle:
            shutil.copyfileobj(upload, handle)
        return add_model(path, name, scale, replace, source_name=Path(filename).name)


def remove_model(name: str) -> dict[str, Any]:
    """Remove imported model ``name`` (card and file); returns its card."""
    folder = imports_dir()
    if checked_name(name) not in read_manifest(folder):
        raise ParameterError(f"no imported model named '{name}' (have: {', '.join(read_manifest(folder)) or 'none'})")
    card = remove_card(folder, name)
    resolve_inside(folder, card["file"]).unlink(missing_ok=True)
    return card
