"""Registry and weights manifest: every registered method runs; damaged weights fail clearly."""

import json

import numpy as np
import pytest
import torch

from microsr_core.errors import ParameterError, WeightsError
from microsr_core.models.inference import upscale
from microsr_core.models.registry import SRMethod, method_class, method_names, register
from microsr_core.models.serving import LR_KINDS, serving_table
from microsr_core.models.weights import load_weights, publish, read_manifest, render_card, sha256_of, update_card, weights_dir


def test_builtin_methods_are_registered():
    assert {"bicubic", "vdsr"} <= set(method_names())


def test_duplicate_name_is_refused():
    with pytest.raises(ValueError, match="registered twice"):

        @register
        class Again(SRMethod):  # noqa: F811
            name = "bicubic"


def test_unknown_method_and_scale():
    with pytest.raises(ParameterError, match="unknown method 'nope'"):
        method_class("nope")
    with pytest.raises(ParameterError, match="supports scales"):
        upscale(np.zeros((8, 8, 3), np.float32), "bicubic", 5)


@pytest.mark.parametrize("name", [n for n in method_names(include_promoted=False)])
def test_every_method_runs_on_a_small_real_crop(name, sample):
    from microsr_core.models.inference import get_method

    try:
        method = get_method(name, "cpu")  # its scales: the model card's where it has weights
    except WeightsError as exc:
        pytest.skip(f"{name}: weights not shipped yet ({exc})")
    scale = 2 if 2 in method.scales else method.scales[0]
    result = upscale(sample[:40, :48], name, scale, device="cpu")
    assert result.image.shape == (40 * scale, 48 * scale, 3)
    assert result.image.dtype == np.float32 and 0 <= result.image.min() and result.image.max() <= 1


def test_every_manifest_entry_matches_its_file():
    cards = read_manifest()
    for name, card in cards.items():
        path = weights_dir() / card["file"]
        assert path.is_file(), name
        assert sha256_of(path) == card["sha256"], name
        for key in ("method", "architecture", "paper", "scales", "training", "parameters", "lr_kind"):
            assert key in card, f"{name} card lacks {key}"
        assert card["lr_kind"] in (*LR_KINDS, "any") and card.get("role", "fallback") == "fallback", name
        assert sorted(card["bf16_delta_db"]) == sorted(str(s) for s in card["scales"]), f"{name}: bf16 not measured at every scale"
        assert (weights_dir() / f"{name}.md").read_text() == render_card(name, card), f"{name}.md is not the card's rendering"


def test_every_registered_method_resolves_without_ambiguity():
    names = method_names()
    rows = serving_table()
    assert {row.method for row in rows} <= set(names)
    for name in names:
        if method_class(name).runs_network:
            table = serving_table(name)  # raises on a tie
            assert len({(row.scale, row.lr_kind) for row in table}) == len(table)
            assert [row for row in rows if row.method == name] == table
    serving = {row.entry for row in rows}
    idle = [entry for entry, card in read_manifest().items() if entry not in serving and card.get("role") != "fallback"]
    assert not idle, f"cards that serve nothing: {idle}"  # only a fallback may be covered everywhere


def _fake_weights(folder, damage=False):
    from safetensors.torch import save_file

    from microsr_core.models.archs.vdsr import VDSR

    net = VDSR(depth=3, channels=4)
    save_file(net.state_dict(), str(folder / "tiny.safetensors"))
    sha = sha256_of(folder / "tiny.safetensors")
    if damage:
        with open(folder / "tiny.safetensors", "ab") as handle:
            handle.write(b"x")
    card = {"file": "tiny.safetensors", "sha256": sha, "architecture": "VDSR", "arch_kwargs": {"depth": 3, "channels": 4}}
    (folder / "manifest.json").write_text(json.dumps({"models": {"tiny": card}}))


def test_checksum_mismatch_names_the_file(tmp_path):
    _fake_weights(tmp_path, damage=True)
    with pytest.raises(WeightsError, match=r"tiny.safetensors for 'tiny' has sha256"):
        load_weights("tiny", tmp_path)


def test_missing_file_and_entry(tmp_path):
    _fake_weights(tmp_path)
    (tmp_path / "tiny.safetensors").unlink()
    with pytest.raises(WeightsError, match="tiny.safetensors for 'tiny' is missing"):
        load_weights("tiny", tmp_path)
    with pytest.raises(WeightsError, match="no weights named 'other'"):
        load_weights("other", tmp_path)


def test_weights_load_without_pickle(tmp_path):
    _fake_weights(tmp_path)
    state, _ = load_weights("tiny", tmp_path)
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_publish_copies_a_run_and_renders_its_metrics(tmp_path):
    from safetensors.torch import save_file

    from microsr_core.models.archs.vdsr import VDSR

    run = tmp_path / "run"
    run.mkdir()
    save_file(VDSR(depth=3, channels=4).state_dict(), str(run / "model.safetensors"))
    card = {"method": "vdsr", "architecture": "VDSR", "arch_kwargs": {"depth": 3, "channels": 4}, "scales": [2]}
    (run / "card.json").write_text(json.dumps(card))
    row = {"psnr_y": 51.95053, "ssim_y": 0.994788, "psnr_rgb": 49.43, "ssim_rgb": 0.99115, "n": 25, "seconds_per_image": 12.05, "lr": "MATLAB bicubic downscale x2"}
    publish(run, "tiny", tmp_path / "weights", metrics={"BCCD val x2": {"vdsr": row}})

    entry = read_manifest(tmp_path / "weights")["tiny"]
    assert entry["sha256"] == sha256_of(tmp_path / "weights" / "tiny.safetensors") == sha256_of(run / "model.safetensors")
    text = (tmp_path / "weights" / "tiny.md").read_text()
    assert "### BCCD val x2" in text and "| vdsr | 51.951 | 0.99479 | 49.430 | 0.99115 | 25 | 12.05 |" in text
    with pytest.raises(WeightsError, match="not a finished training run"):
        publish(tmp_path, "nothing", tmp_path / "weights")

    # update_card rewrites the manifest and the rendered card; a check may refuse the new manifest.
    update_card("tiny", {"lr_kind": "real", "bf16_delta_db": {"2": -0.0123}}, tmp_path / "weights")
    assert read_manifest(tmp_path / "weights")["tiny"]["lr_kind"] == "real"
    assert "| lr_kind | real |" in (tmp_path / "weights" / "tiny.md").read_text() and "x2 -0.0123 dB" in (tmp_path / "weights" / "tiny.md").read_text()

    def refuse(cards):
        raise WeightsError(f"refused {sorted(cards)}")

    with pytest.raises(WeightsError, match=r"refused \['tiny'\]"):
        update_card("tiny", {"role": "fallback"}, tmp_path / "weights", check=refuse)
    assert "role" not in read_manifest(tmp_path / "weights")["tiny"]
