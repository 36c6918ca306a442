"""Shipped weights as data: a manifest of model cards, checksums and strict, pickle-free loading.

``weights/manifest.json`` maps an entry name to its model card: the weights file, its sha256,
the architecture and its constructor arguments, the paper, training data and budget (steps,
device, wall time, command), the scales it serves and held-out metrics. The trainer writes the
card (``card.json`` in its output folder); :func:`publish` copies the weights in, adds the
checksum and renders a Markdown model card beside them. Nobody edits the manifest by hand.

Weights are stored as ``safetensors`` and loaded with :func:`safetensors.torch.load_file`,
which cannot execute code. The ImageNet VGG19 weights of MicroGAN's perceptual loss are not
shipped: :func:`load_vgg19_features` reads them from a local torchvision file the user names.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors.torch import load_file

from ..errors import WeightsError
from .papers import cite
from .manifest import read_manifest, weights_dir

#: torchvision ``vgg19().features`` length up to and including each named layer.
VGG19_LAYERS = {"relu2_2": 9, "conv3_3": 15, "relu3_4": 18, "relu5_4": 36}


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


def load_weights(name: str, folder: Path | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load entry ``name``: checks that the file exists and its sha256 matches the manifest.

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
        return load_file(str(path)), card
    except Exception as exc:  # safetensors raises its own error type for bad headers
        raise WeightsError(f"weights file {path} for '{name}' cannot be read: {exc}") from exc


def build_model(name: str, folder: Path | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Construct the architecture named in the card and load its weights strictly."""
    from .archs import build_architecture

    state, card = load_weights(name, folder)
    model = build_architecture(card["architecture"], **card.get("arch_kwargs", {}))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"weights '{name}' do not fit architecture {card['architecture']}: {exc}") from exc
    return model.eval(), card


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
                "size_multiple", "tiling", "source_file", "file", "sha256"):
        if key in card:
            lines.append(f"| {key} | {cite(card[key]) if key == 'paper' else card[key]} |")
    if "bf16_delta_db" in card:
        deltas = ", ".join(f"x{scale} {delta:+.4f} dB" for scale, delta in sorted(card["bf16_delta_db"].items(), key=lambda kv: int(kv[0])))
        checked_on = "captured at the microscope test point" if card.get("lr_kind") == "real" else "bicubic LR"
        lines.append(f"| bf16_delta_db | {deltas} (worst Y-PSNR change of bf16 against fp32 on the check crops, {checked_on}) |")
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
            fields: dict[str, Any] | None = None, check: ManifestCheck | None = None) -> dict[str, Any]:
    """Copy a finished training run's weights into ``folder`` and add its manifest entry.

    ``run_dir`` holds ``model.safetensors`` and ``card.json`` (written by the trainer).
    ``metrics`` (title -> ``evaluate`` JSON) are merged into the card's held-out metrics;
    ``fields`` (``lr_kind``, ``role``) are set on it. ``check`` may refuse the new manifest
    before anything is copied.
    """
    folder = folder or weights_dir()
    run_dir = Path(run_dir)
    source = run_dir / "model.safetensors"
    card_path = run_dir / "card.json"
    if not source.is_file() or not card_path.is_file():
        raise WeightsError(f"{run_dir} is not a finished training run (needs model.safetensors and card.json)")
    card = json.loads(card_path.read_text())
    card.update(fields or {})
    card.pop("bf16_delta_db", None)  # measured for these weights after they are in place
    card.setdefault("metrics", {}).update(metrics or {})
    card["file"] = f"{name}.safetensors"
    card["sha256"] = sha256_of(source)
    if check is not None:
        check({**read_manifest(folder), name: card})
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, folder / card["file"])
    return write_card(folder, name, card)


def update_card(name: str, fields: dict[str, Any], folder: Path | None = None, check: ManifestCheck | None = None) -> dict[str, Any]:
    """Set ``fields`` on manifest entry ``name`` (a value of ``None`` removes the field) and re-render its card."""
    folder = folder or weights_dir()
    card = dict(model_card(name, folder))
    for key, value in fields.items():
        if value is None:
            card.pop(key, None)
        else:
            card[key] = value
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
