"""Shipped weights as data: a manifest of model cards, checksums and strict, pickle-free loading.

``weights/manifest.json`` maps an entry name to its model card: the weights file, its sha256,
the architecture and its constructor arguments, the paper, training data and budget (steps,
device, wall time, command), the scales it serves and held-out metrics. The trainer writes the
card (``card.json`` in its output folder); :func:`publish` copies the weights in, adds the
checksum and renders a Markdown model card beside them. Nobody edits the manifest by hand.

Weights are stored as ``safetensors`` and loaded with :func:`safetensors.torch.load_file`,
which cannot execute code. A card's ``storage`` says the dtype of its file (``float32``, the
default, or ``float16``, which halves the file where rounding the weights moves Y-PSNR by at
most the bf16 tolerance: ``fp16_storage_delta_db``); :func:`load_weights` returns float32
tensors either way, so everything that runs or trains the networks sees float32. The ImageNet
VGG19 weights of MicroGAN's perceptual loss are not shipped: :func:`load_vgg19_features` reads
them from a local torchvision file the user names.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors.torch import load_file, save

from ..errors import WeightsError
from .papers import cite
from .manifest import read_manifest, weights_dir

#: torchvision ``vgg19().features`` length up to and including each named layer.
VGG19_LAYERS = {"relu2_2": 9, "conv3_3": 15, "relu3_4": 18, "relu5_4": 36}
#: A card's ``storage``: the dtype its weights file holds its floating-point tensors in.
STORAGES = (FLOAT32, FLOAT16) = ("float32", "float16")

#: Measures a card about to be stored in a narrower dtype, given its entry name, the card and its
#: float32 tensors: returns the fields to add (``fp16_storage_delta_db``) or raises
#: :class:`WeightsError` to refuse (:func:`microsr_core.models.bf16_gate.fp16_storage_fields`).
StorageGate = Callable[[str, dict[str, Any], dict[str, torch.Tensor]], dict[str, Any]]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_card(name: str, folder: Path | None = None) -> dict[str, Any]:
    """The manifest entry ``name``; a missing entry raises :class:`WeightsError`."""
    folder = folder or weights_dir()
    cards = read_manifest(folder)
    if name not in cards:
        raise WeightsError(
            f"no weights named '{name}' in {folder / 'manifest.json'} (have: {', '.join(cards) or 'none'})"
        )
    return cards[name]


def storage_of(card: dict[str, Any]) -> str:
    """The dtype a card's weights file is stored in (a card without ``storage`` is float32)."""
    return card.get("storage", FLOAT32)


def as_float32(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with every floating-point tensor in float32, the dtype the networks compute and
    train in (float16 and bfloat16 widen exactly); integer tensors stay as they are."""
    return {key: value.float() if value.is_floating_point() else value for key, value in state.items()}


def in_storage(state: dict[str, torch.Tensor], storage: str) -> dict[str, torch.Tensor]:
    """``state`` with every floating-point tensor in ``storage`` (one of :data:`STORAGES`; float16
    rounded by :func:`float16_keeping_bf16`)."""
    if storage not in STORAGES:
        raise WeightsError(f"weights are stored as {' or '.join(STORAGES)}, not {storage}")
    narrow = float16_keeping_bf16 if storage == FLOAT16 else torch.Tensor.float
    return {key: (narrow(value.float()) if value.is_floating_point() else value).contiguous() for key, value in state.items()}


def float16_keeping_bf16(tensor: torch.Tensor) -> torch.Tensor:
    """float32 ``tensor`` rounded to the nearest float16 that bf16 rounds as it rounds the float32
    value: within one float16 step (half a step for 15 of 16 values), so bf16 autocast of the
    stored weights computes with the bf16 weights of the float32 ones, those its card's bf16
    measurement ran (the layers kept in float32 change as the fp16 measurement says).

    Plain rounding to float16 lands 1 value in 8 on a bf16 tie (float16 keeps 3 bits more),
    which bf16 then rounds to even, not towards the float32 value: 6 % of microgan's bf16
    weights moved. In float16's subnormal range a few values cannot keep theirs. A value past
    float16's range stays inf, so that the storage gate sees the overflow.
    """
    nearest = tensor.half()
    off = (nearest.float().bfloat16() != tensor.bfloat16()) & nearest.isfinite()
    towards = torch.where(tensor > nearest.float(), float("inf"), float("-inf")).half()
    return torch.where(off, torch.nextafter(nearest, towards), nearest)


def load_weights(name: str, folder: Path | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load entry ``name``: checks that the file exists and its sha256 matches the manifest.
    Floating-point tensors come back as float32 whatever the file stores (:func:`as_float32`).

    Returns
    -------
    state_dict, card
    """
    folder = folder or weights_dir()
    card = model_card(name, folder)
    path = folder / card["file"]
    if not path.is_file():
        raise WeightsError(f"weights file {path} for '{name}' is missing")
    actual = sha256_of(path)
    if actual != card["sha256"]:
        raise WeightsError(
            f"weights file {path} for '{name}' has sha256 {actual[:12]}…, manifest says {card['sha256'][:12]}…: "
            "the file is damaged or was replaced"
        )
    try:
        state = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error type for bad headers
        raise WeightsError(f"weights file {path} for '{name}' cannot be read: {exc}") from exc
    return as_float32(state), card


def build_network(name: str, card: dict[str, Any], state: dict[str, torch.Tensor]) -> torch.nn.Module:
    """The architecture named in card ``name`` with ``state`` loaded strictly, in eval mode."""
    from .archs import build_architecture

    model = build_architecture(card["architecture"], **card.get("arch_kwargs", {}))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"weights '{name}' do not fit architecture {card['architecture']}: {exc}") from exc
    return model.eval()


def build_model(name: str, folder: Path | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Construct the architecture named in the card and load its weights strictly."""
    state, card = load_weights(name, folder)
    return build_network(name, card, state), card


def card_heading(name: str, card: dict[str, Any]) -> str:
    """One line that tells a card from its siblings: name, scales, LR kind, then its summary."""
    scales = "/".join(f"x{scale}" for scale in card.get("scales", []))
    facts = ", ".join(part for part in (scales, f"{card['lr_kind']} LR" if card.get("lr_kind") else "") if part)
    return (f"{name} ({facts})" if facts else name) + f": {card.get('summary') or card.get('architecture', '')}"


def render_card(name: str, card: dict[str, Any]) -> str:
    """A Markdown model card for manifest entry ``name``."""
    lines = [f"# Model card: {name}", "", card.get("summary", ""), ""]
    lines += ["| field | value |", "| --- | --- |"]
    for key in ("method", "architecture", "paper", "scales", "lr_kind", "role", "parameters", "input_channels", "precisions",
                "size_multiple", "tiling", "source_file", "file", "storage", "sha256"):
        if key in card:
            lines.append(f"| {key} | {cite(card[key]) if key == 'paper' else card[key]} |")
    checked_on = "captured at the microscope test point" if card.get("lr_kind") == "real" else "bicubic LR"
    for key, change in (("fp16_storage_delta_db", "the float16-stored weights against the float32 ones"),
                        ("bf16_delta_db", "bf16 against fp32")):
        if key in card:
            lines.append(f"| {key} | {per_scale(card[key])} (worst Y-PSNR change of {change} on the check crops, {checked_on}) |")
    for backend, deltas in sorted(card.get("bf16_delta_db_by_backend", {}).items()):
        lines.append(f"| bf16_delta_db in {backend} | {per_scale(deltas)} |")
    lines.append(f"| constructor | `{json.dumps(card.get('arch_kwargs', {}))}` |")
    training = card.get("training", {})
    if training:
        lines += ["", "## Training", "", "| field | value |", "| --- | --- |"]
        lines += [f"| {key} | {value} |" for key, value in training.items()]
    metrics = card.get("metrics", {})
    if metrics:
        lines += ["", "## Held-out metrics", ""]
        for title, table in metrics.items():
            lines += [f"### {title}", "", *_metrics_table(table), ""]
    for note in card.get("notes", []):
        lines += ["", f"- {note}"]
    return "\n".join(lines).rstrip() + "\n"


def per_scale(deltas: dict[str, float]) -> str:
    """``x2 -0.0113 dB, x3 +0.0040 dB``: a card's per-scale Y-PSNR changes in scale order."""
    return ", ".join(f"x{scale} {delta:+.4f} dB" for scale, delta in sorted(deltas.items(), key=lambda kv: int(kv[0])))


def _metrics_table(evaluation: dict[str, dict[str, Any]]) -> list[str]:
    """Markdown rows of an ``evaluate`` JSON (method -> averages), with its convention."""
    rows = ["| method | Y-PSNR dB | Y-SSIM | RGB PSNR dB | RGB SSIM | images | s/image |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for method, m in evaluation.items():
        rows.append(
            f"| {method} | {m['psnr_y']:.3f} | {m['ssim_y']:.5f} | {m['psnr_rgb']:.3f} | {m['ssim_rgb']:.5f} "
            f"| {m['n']} | {m['seconds_per_image']:.2f} |"
        )
    first = next(iter(evaluation.values()), {})
    if "lr" in first:
        rows += ["", f"LR: {first['lr']}; {first.get('convention', '')}"]
    return rows


#: Called with the whole manifest about to be written; raises to refuse it (serving's ambiguity check).
ManifestCheck = Callable[[dict[str, dict[str, Any]]], None]


def _write_manifest(folder: Path, cards: dict[str, dict[str, Any]]) -> None:
    manifest = folder / "manifest.json"
    partial = manifest.with_name("manifest.json.partial")
    partial.write_text(json.dumps({"models": cards}, indent=2, sort_keys=True) + "\n")
    partial.replace(manifest)  # atomic: readers see the old manifest or the new one


def write_card(folder: Path, name: str, card: dict[str, Any]) -> dict[str, Any]:
    """Put ``card`` under ``name`` in ``folder/manifest.json`` atomically and render its Markdown card."""
    cards = read_manifest(folder)
    cards[name] = card
    _write_manifest(folder, cards)
    (folder / f"{name}.md").write_text(render_card(name, card))
    return card


def remove_card(folder: Path, name: str) -> dict[str, Any]:
    """Take entry ``name`` out of ``folder/manifest.json`` atomically (with its Markdown card); returns its card.
    The weights file stays: the caller deletes it once nothing refers to it."""
    cards = read_manifest(folder)
    card = cards.pop(name)
    _write_manifest(folder, cards)
    (folder / f"{name}.md").unlink(missing_ok=True)
    return card


def publish(run_dir: Path, name: str, folder: Path | None = None, metrics: dict[str, Any] | None = None,
            fields: dict[str, Any] | None = None, check: ManifestCheck | None = None, storage: str = FLOAT32,
            gate: StorageGate | None = None) -> dict[str, Any]:
    """Copy a finished training run's weights into ``folder`` and add its manifest entry.

    ``run_dir`` holds ``model.safetensors`` and ``card.json`` (written by the trainer).
    ``metrics`` (title -> ``evaluate`` JSON) are merged into the card's held-out metrics;
    ``fields`` (``lr_kind``, ``role``) are set on it. ``storage`` float16 stores the tensors
    rounded to float16 once ``gate`` has measured them (float32 copies the run's file as it is).
    ``check`` may refuse the new manifest; nothing is written before ``gate`` and ``check`` pass.
    """
    folder = folder or weights_dir()
    run_dir = Path(run_dir)
    source = run_dir / "model.safetensors"
    card_path = run_dir / "card.json"
    if not source.is_file() or not card_path.is_file():
        raise WeightsError(f"{run_dir} is not a finished training run (needs model.safetensors and card.json)")
    card = json.loads(card_path.read_text())
    card.update(fields or {})
    for measured in ("bf16_delta_db", "bf16_delta_db_by_backend", "fp16_storage_delta_db", "storage"):
        card.pop(measured, None)  # measured for these weights, as they are stored
    card.setdefault("metrics", {}).update(metrics or {})
    if storage == FLOAT32:
        data = source.read_bytes()
    else:
        data = _stored_bytes(name, card, as_float32(load_file(str(source))), storage, gate)
    return _store(folder, name, card, data, check)


def restore(name: str, storage: str, gate: StorageGate, folder: Path | None = None, fields: dict[str, Any] | None = None,
            check: ManifestCheck | None = None) -> dict[str, Any]:
    """Store published entry ``name``'s tensors again, rounded to ``storage``, once ``gate`` has
    measured them; ``fields`` as in :func:`update_card`. Nothing is written before ``gate`` and
    ``check`` pass. A file already in ``storage`` is refused: its wider weights are gone, so
    ``gate`` could only measure the rounding of rounded values (no change)."""
    folder = folder or weights_dir()
    state, card = load_weights(name, folder)
    if storage_of(card) == storage:
        raise WeightsError(f"weights '{name}' are stored as {storage} already")
    card = _with_fields(card, fields or {})
    return _store(folder, name, card, _stored_bytes(name, card, state, storage, gate), check)


def _stored_bytes(name: str, card: dict[str, Any], state: dict[str, torch.Tensor], storage: str, gate: StorageGate | None) -> bytes:
    """The safetensors file of ``state`` rounded to ``storage``, after ``gate`` (required below
    float32: rounding is only stored measured) has added its fields to ``card``."""
    if storage == FLOAT32:
        card.pop("storage", None)  # the default
        card.pop("fp16_storage_delta_db", None)
    elif gate is None:
        raise WeightsError(f"storing '{name}' as {storage} needs its Y-PSNR change measured first (a storage gate)")
    else:
        card.update(gate(name, card, state))
        card["storage"] = storage
    return save(in_storage(state, storage))


def _store(folder: Path, name: str, card: dict[str, Any], data: bytes, check: ManifestCheck | None) -> dict[str, Any]:
    """Write ``data`` as entry ``name``'s weights file and ``card`` (with the file's sha256) into
    ``folder``, after ``check`` has passed the manifest it would make."""
    card["file"] = f"{name}.safetensors"
    card["sha256"] = hashlib.sha256(data).hexdigest()
    if check is not None:
        check({**read_manifest(folder), name: card})
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f"{card['file']}.partial"
    try:
        partial.write_bytes(data)
        partial.replace(folder / card["file"])  # atomic: readers see the old file or the new one
    finally:
        partial.unlink(missing_ok=True)  # left only where writing failed (a full disk)
    return write_card(folder, name, card)


def _with_fields(card: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``card`` with ``fields`` set (a value of ``None`` removes the field)."""
    card = dict(card)
    for key, value in fields.items():
        if value is None:
            card.pop(key, None)
        else:
            card[key] = value
    return card


def update_card(name: str, fields: dict[str, Any], folder: Path | None = None, check: ManifestCheck | None = None) -> dict[str, Any]:
    """Set ``fields`` on manifest entry ``name`` (a value of ``None`` removes the field) and re-render its card."""
    folder = folder or weights_dir()
    card = _with_fields(model_card(name, folder), fields)
    if check is not None:
        check({**read_manifest(folder), name: card})
    return write_card(folder, name, card)


def truncate_vgg19_state(state: dict[str, torch.Tensor], layer: str = "conv3_3") -> dict[str, torch.Tensor]:
    """The entries of a torchvision ``vgg19`` state dict that the features up to ``layer`` use.

    Saving these (``torch.save``) makes a file of a few MB instead of 550 MB.
    """
    end = _layer_end(layer)
    return {k: v for k, v in state.items() if k.startswith("features.") and int(k.split(".")[1]) < end}


def _layer_end(layer: str) -> int:
    if layer not in VGG19_LAYERS:
        raise WeightsError(f"unknown VGG19 layer '{layer}' (choose from {', '.join(VGG19_LAYERS)})")
    return VGG19_LAYERS[layer]


def load_vgg19_features(path: str | Path, layer: str = "conv3_3") -> torch.nn.Sequential:
    """torchvision's VGG19 ``features`` up to ``layer``, weights read from a local file.

    ``path`` holds a state dict of ``torchvision.models.vgg19`` (for example
    ``vgg19-dcbb9e9d.pth``), whole or cut by :func:`truncate_vgg19_state`. It is read with
    ``torch.load(weights_only=True)``; the layers are built by
    ``torchvision.models.vgg19(weights=None)`` (on the meta device, so the unused 120 M
    classifier parameters cost nothing) and filled strictly. Returned frozen, in eval mode.

    Raises
    ------
    WeightsError
        The file is missing or unreadable, lacks a needed layer, or a shape does not fit.
    """
    import torchvision

    path = Path(path)
    end = _layer_end(layer)
    if not path.is_file():
        raise WeightsError(f"VGG19 weights file {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a bad or non-tensor file
        raise WeightsError(f"VGG19 weights file {path} cannot be read as a state dict: {exc}") from exc
    if not isinstance(state, dict):
        raise WeightsError(f"VGG19 weights file {path} holds a {type(state).__name__}, not a state dict")
    with torch.device("meta"):
        features = torchvision.models.vgg19(weights=None).features[:end]
    features = features.to_empty(device="cpu")
    wanted = features.state_dict().keys()
    found = {key: state[f"features.{key}"] for key in wanted if f"features.{key}" in state}
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise WeightsError(f"VGG19 weights file {path} lacks {', '.join('features.' + k for k in missing)} (needed up to {layer})")
    try:
        features.load_state_dict(found, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"VGG19 weights file {path} does not fit torchvision's vgg19: {exc}") from exc
    return features.eval().requires_grad_(False)
