"""Test helpers: tiny networks published into a private weights folder."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from microsr_core.archs import build_architecture
from microsr_core.weights import sha256_of


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
