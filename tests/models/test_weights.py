"""Weights storage: a float16 file loads as float32 and computes the network with its stored weights;
float16 rounding keeps every bf16 weight; re-storing writes nothing until its gate and the manifest check pass."""

import pytest
import torch
from safetensors.torch import load_file

from microsr_core.errors import WeightsError
from microsr_core.models.archs import build_architecture
from microsr_core.models.weights import (FLOAT16, build_model, float16_keeping_bf16, in_storage, load_weights, read_manifest,
                                         render_card, restore, sha256_of)
from tests.helpers import publish_random


def _recorded(name, card, state):
    """A storage gate that records what it was given and passes (the real gate: tests/test_cli.py)."""
    _recorded.seen = (name, card["file"], {key: value.dtype for key, value in state.items()})
    return {"fp16_storage_delta_db": {"2": -0.0007}}


def test_a_float16_file_loads_as_float32_and_computes_the_rounded_network(tmp_path):
    net = publish_random(tmp_path, "tiny", "vdsr", "VDSR", (2,), depth=3, channels=8)
    fp32_size = (tmp_path / "tiny.safetensors").stat().st_size
    card = restore("tiny", FLOAT16, _recorded, tmp_path)

    assert _recorded.seen == ("tiny", "tiny.safetensors", {key: torch.float32 for key in net.state_dict()})
    assert read_manifest(tmp_path)["tiny"] == card and card["storage"] == "float16"
    assert card["sha256"] == sha256_of(tmp_path / "tiny.safetensors")  # the stored file's
    assert all(t.dtype == torch.float16 for t in load_file(str(tmp_path / "tiny.safetensors")).values())
    assert (tmp_path / "tiny.safetensors").stat().st_size < 0.6 * fp32_size
    text = (tmp_path / "tiny.md").read_text()
    assert text == render_card("tiny", card) and "| storage | float16 |" in text and "| fp16_storage_delta_db | x2 -0.0007 dB" in text

    state, _ = load_weights("tiny", tmp_path)
    stored = load_file(str(tmp_path / "tiny.safetensors"))
    original = net.state_dict()
    assert all(state[key].dtype == torch.float32 and torch.equal(state[key], stored[key].float()) for key in original)
    assert any(not torch.equal(state[key], original[key]) for key in original)  # it was rounded

    loaded, _ = build_model("tiny", tmp_path)
    rounded = build_architecture("VDSR", depth=3, channels=8)
    rounded.load_state_dict({key: value.float() for key, value in stored.items()})
    x = torch.rand(1, 1, 20, 24, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(loaded(x), rounded.eval()(x))
        assert not torch.equal(loaded(x), net.eval()(x))


def test_float16_storage_rounds_within_a_step_and_keeps_every_bf16_weight():
    tie = 1 + 2**-8  # a bf16 midpoint (between 1 and 1 + 2**-7) that float16 holds
    values = torch.tensor([tie + 2**-12, tie - 2**-12, -(tie + 2**-12), 3.0, 1e6])
    assert torch.equal(values.half().float().bfloat16(), torch.tensor([1.0, 1.0, -1.0, 3.0, float("inf")]).bfloat16())  # plain: to even
    stored = float16_keeping_bf16(values)
    assert stored.dtype == torch.float16
    assert torch.equal(stored.float()[:4].bfloat16(), values[:4].bfloat16()) and stored[4] == float("inf")  # overflow stays visible

    weights = torch.randn(100_000, generator=torch.Generator().manual_seed(0)) * 0.05
    stored = in_storage({"w": weights, "steps": torch.tensor([3])}, FLOAT16)
    assert stored["w"].dtype == torch.float16 and torch.equal(stored["steps"], torch.tensor([3]))
    plain = weights.half()
    assert (plain.float().bfloat16() != weights.bfloat16()).float().mean() > 0.05  # 1 in 16 moves under plain rounding
    normal = weights.abs() >= torch.finfo(torch.float16).tiny
    assert torch.equal(stored["w"].float().bfloat16()[normal], weights.bfloat16()[normal])
    step = (torch.nextafter(plain, torch.full_like(plain, float("inf"))).float() - plain.float()).abs()
    assert ((stored["w"].float() - weights).abs() <= step).all() and (stored["w"] != plain).float().mean() < 0.1


def test_restoring_writes_nothing_until_gate_and_check_pass(tmp_path):
    publish_random(tmp_path, "tiny", "vdsr", "VDSR", (2,), depth=3, channels=8)
    before = (tmp_path / "tiny.safetensors").read_bytes(), (tmp_path / "manifest.json").read_text()

    def refuse_gate(name, card, state):
        raise WeightsError("rounding refused")

    def refuse_manifest(cards):
        raise WeightsError("manifest refused")

    with pytest.raises(WeightsError, match="rounding refused"):
        restore("tiny", FLOAT16, refuse_gate, tmp_path)
    with pytest.raises(WeightsError, match="manifest refused"):
        restore("tiny", FLOAT16, _recorded, tmp_path, check=refuse_manifest)
    assert ((tmp_path / "tiny.safetensors").read_bytes(), (tmp_path / "manifest.json").read_text()) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["manifest.json", "tiny.safetensors"]

    restore("tiny", FLOAT16, _recorded, tmp_path)
    with pytest.raises(WeightsError, match="stored as float16 already"):  # rounding again would measure no change
        restore("tiny", FLOAT16, _recorded, tmp_path)
