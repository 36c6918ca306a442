"""The publishing precision gate: how far bf16 moves a card's Y-PSNR from fp32, per scale, and
how far storing its weights as float16 does.

``publish``, ``publish --recheck``, ``jobs promote`` and a model import measure bf16
(:func:`record_bf16`, :func:`measure_bf16`) and write it on the card as ``bf16_delta_db`` (the worst)
and ``bf16_delta_db_by_backend``; ``auto`` precision runs bf16 only in a backend where it stays
within :data:`~microsr_core.models.serving.TOLERANCE_DB`.
``publish --fp16`` stores the weights as float16 only where the rounded weights stay within the
same tolerance (:func:`fp16_storage_fields`, written as ``fp16_storage_delta_db``), measured on
the same crops and LR.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..errors import WeightsError
from ..imaging.data import list_images, split_of
from ..imaging.degrade import Degradation
from ..imaging.io import load_image
from ..imaging.metrics import psnr_y
from ..paths import data_root
from .inference import upscale
from .registry import SRMethod, method_class
from .runtime import ExportMismatch, usable_backends
from .serving import DEFAULT_KIND, TOLERANCE_DB, card_weights, split_name
from .weights import FLOAT16, as_float32, in_storage, model_card, per_scale, update_card


#: HR side of a bf16 check crop: a few cells, well inside every network's receptive field reach.
CHECK_CROP = 192


def check_crops() -> list[np.ndarray]:
    """The HR crops bf16 is measured on: the built-in sample, and two held-out (test split) BCCD
    fields where ``$MICROSR_DATA_ROOT/bccd`` is present."""
    from ..imaging.io import sample_image

    crops = [sample_image()[100 : 100 + CHECK_CROP, 100 : 100 + CHECK_CROP]]
    folder = data_root() / "bccd" / "images"
    fields = [path for path in list_images(folder) if split_of(path) == "test"][:2] if folder.is_dir() else []
    for path in fields:
        image = load_image(path).pixels
        top, left = (image.shape[0] - CHECK_CROP) // 2, (image.shape[1] - CHECK_CROP) // 2
        crops.append(image[top : top + CHECK_CROP, left : left + CHECK_CROP])
    return crops


def check_degradation(scale: int, lr_kind: str) -> Degradation:
    """The LR that weights serving ``lr_kind`` are checked on: the kind they serve. x1: MicroGAN's
    Gaussian blur; real-capture weights: the documented microscope test point (on a bicubic LR,
    which they never meet, bf16 moved vdsr_x4_real by -0.046 dB, on captures by at most 0.013);
    else the bicubic downscale."""
    if scale == 1:
        return Degradation("gaussian", scale)
    return Degradation("microscope" if lr_kind == "real" else "bicubic", scale)


def worst_change(exact: Callable[[np.ndarray], np.ndarray], reduced: Callable[[np.ndarray], np.ndarray], scale: int,
                 crops: list[np.ndarray], lr_kind: str = DEFAULT_KIND) -> float:
    """The worst (largest in size) Y-PSNR change, in dB, of ``reduced``'s output against
    ``exact``'s (each maps an LR image to its x``scale`` output) over the HR ``crops``, degraded as
    :func:`check_degradation` says."""
    degradation = check_degradation(scale, lr_kind)
    worst = 0.0
    for crop in crops:
        lr, hr = degradation.apply(crop), degradation.reference(crop)
        delta = psnr_y(reduced(lr), hr, scale) - psnr_y(exact(lr), hr, scale)
        worst = max(worst, delta, key=abs)
    return worst


def bf16_delta(method: SRMethod, scale: int, crops: list[np.ndarray], lr_kind: str = DEFAULT_KIND) -> float:
    """:func:`worst_change` of ``method``'s bf16 output against its fp32 output at ``scale``."""
    return worst_change(lambda lr: upscale(lr, method, scale, precision="fp32").image,
                        lambda lr: upscale(lr, method, scale, precision="bf16").image, scale, crops, lr_kind)


def measure_bf16(name: str, entry: str, card: dict[str, Any] | None = None) -> dict[str, Any]:
    """The card fields of card ``entry`` of method ``name`` measured on the CPU: :func:`bf16_delta`
    on :func:`check_crops` in every CPU backend that may run it here, ``{backend: {scale: Δ dB}}``
    (``bf16_delta_db_by_backend``: auto runs bf16 in a backend only where its own figure passes),
    and the worst over them (``bf16_delta_db``). ``card``: one not yet in the manifest (a model
    being imported)."""
    rows = card_weights(name, entry, card)
    crops = check_crops()
    cls, model = method_class(name), split_name(name)[1]
    by_backend: dict[str, dict[str, float]] = {}
    for backend in usable_backends():
        try:
            method = cls(torch.device("cpu"), model, rows[0].lr_kind, weights=rows, backend=backend)
        except ExportMismatch:  # a network OpenVINO cannot reproduce runs in PyTorch only
            continue
        for row in rows:
            ran = by_backend.setdefault(method.backend_at(row.scale), {})  # an imported ONNX file runs OpenVINO whatever was asked
            delta = bf16_delta(method, row.scale, crops, row.lr_kind)
            ran[str(row.scale)] = max(ran.get(str(row.scale), 0.0), delta, key=abs)
    worst: dict[str, float] = {}
    for deltas in by_backend.values():
        for scale, delta in deltas.items():
            worst[scale] = max(worst.get(scale, 0.0), delta, key=abs)
    return {"bf16_delta_db": worst, "bf16_delta_db_by_backend": by_backend}


def record_bf16(name: str, entry: str, folder: Path) -> dict[str, Any]:
    """Measure card ``entry`` of method ``name`` (:func:`measure_bf16`) and write the results on
    the card in ``folder`` (with ``lr_kind``, bicubic where the card has none)."""
    card = model_card(entry, folder)
    return update_card(entry, {**measure_bf16(name, entry), "lr_kind": card.get("lr_kind", DEFAULT_KIND)}, folder)


def measure_fp16_storage(name: str, entry: str, card: dict[str, Any], state: dict[str, torch.Tensor]) -> dict[str, float]:
    """``{scale: Δ dB}``: :func:`worst_change` of card ``entry`` of method ``name`` with its float32
    tensors ``state`` rounded to float16 (as a float16 file stores them) against ``state``, both
    run in fp32, on :func:`check_crops` and the LR bf16 is checked on. PyTorch only: the change
    is the weights', and every backend computes the same fp32 network."""
    rows = card_weights(name, entry, card)
    crops = check_crops()
    cls, model = method_class(name), split_name(name)[1]

    def method_with(tensors):
        return cls(torch.device("cpu"), model, rows[0].lr_kind, weights=rows, backend="pytorch", tensors=tensors)

    exact, rounded = method_with(state), method_with(as_float32(in_storage(state, FLOAT16)))
    return {str(row.scale): worst_change(lambda lr: upscale(lr, exact, row.scale, precision="fp32").image,
                                         lambda lr: upscale(lr, rounded, row.scale, precision="fp32").image,
                                         row.scale, crops, row.lr_kind)
            for row in rows}


def within_guard(deltas: dict[str, float]) -> bool:
    """Whether every per-scale change is within :data:`~microsr_core.models.serving.TOLERANCE_DB`
    (a NaN, from a weight that overflows float16 to inf, is not)."""
    return all(abs(delta) <= TOLERANCE_DB for delta in deltas.values())


def fp16_storage_fields(entry: str, card: dict[str, Any], state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The storage gate of shipped cards (:data:`~microsr_core.models.weights.StorageGate`):
    ``{"fp16_storage_delta_db": ...}`` (:func:`measure_fp16_storage`), or a :class:`WeightsError`
    where a scale moves by more than :data:`~microsr_core.models.serving.TOLERANCE_DB`."""
    deltas = measure_fp16_storage(card["method"], entry, card, state)
    if not within_guard(deltas):
        raise WeightsError(f"'{entry}' not stored as float16: the rounded weights change Y-PSNR by {per_scale(deltas)}, "
                           f"past the {TOLERANCE_DB} dB guard (nothing written)")
    return {"fp16_storage_delta_db": deltas}
