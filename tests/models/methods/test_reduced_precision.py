"""Accuracy claim: every served weights file's card says whether bf16 stays within
``TOLERANCE_DB`` Y-PSNR of fp32 at that scale (``bf16_delta_db``, measured at publish time), and
re-measuring gives the same decision, which is the one ``auto`` precision follows.

Parametrised over :func:`~microsr_core.models.serving.serving_table`, so weights that ship later are
covered without editing this file. The measurement is the package's
(:func:`~microsr_core.models.bf16_gate.measure_bf16`: the built-in sample and two held-out BCCD fields,
every CPU backend that may run the network); ``bench/run.py`` reports the same delta on
full-size images.
"""

import numpy as np
import pytest
import torch

from microsr_core.models.bf16_gate import check_crops, measure_bf16
from microsr_core.models.inference import upscale
from microsr_core.models.precision import has_native_bf16, resolve_precision
from microsr_core.models.serving import NETWORK_BACKENDS, TOLERANCE_DB
from microsr_core.models.registry import create
from microsr_core.models.serving import serving_table, split_name

SERVED = [row for row in serving_table() if split_name(row.method)[1] is None]  # the shipped weights
_measured = {}
#: How far a re-measurement may land from the card's on another CPU (and so on the other side of the bound).
BORDER_DB = 0.001


def _deltas(row) -> dict[str, dict[str, float]]:
    """The card's measurement redone (``{backend: {scale: Δ dB}}``), once per weights file for the whole module."""
    if row.entry not in _measured:
        _measured[row.entry] = measure_bf16(row.method, row.entry)["bf16_delta_db_by_backend"]
    return _measured[row.entry]


@pytest.mark.skipif(not SERVED, reason="no shipped weights in weights/manifest.json")
@pytest.mark.parametrize("row", SERVED, ids=[f"{r.method}-x{r.scale}-{r.lr_kind}-{r.entry}" for r in SERVED])
def test_each_card_claims_the_bf16_decision_it_measures(row, monkeypatch, one_torch_thread):
    monkeypatch.delenv("MICROSR_CPU_BACKEND")  # measure in every backend auto may use, as publish does
    if len(check_crops()) < 3:
        pytest.skip("the BCCD test fields the cards were measured on are absent (../shared data)")
    if not has_native_bf16():
        # auto never runs bf16 here, and bf16 is emulated with other rounding (and ~8x slower):
        # a card's decision is measured, and applies, where the CPU runs bf16 natively.
        pytest.skip("this CPU has no native bf16 (AVX-512 BF16 / AMX): the cards' bf16 decisions do not apply here")
    claimed = row.card.get("bf16_delta_db_by_backend") or {backend: row.card["bf16_delta_db"] for backend in NETWORK_BACKENDS}
    for backend, deltas in _deltas(row).items():
        measured = deltas[str(row.scale)]
        assert measured != 0.0, f"{row.entry} x{row.scale} in {backend}: bf16 did not change the output (did it run?)"
        if abs(abs(measured) - TOLERANCE_DB) < BORDER_DB:
            continue  # CPUs' bf16 kernels differ by this much: a card this close to the bound may go either way
        assert (abs(measured) <= TOLERANCE_DB) == (backend in row.bf16_backends), (
            f"{row.entry} x{row.scale} in {backend}: bf16 changes Y-PSNR by {measured:+.4f} dB, the card says "
            f"{claimed.get(backend, {}).get(str(row.scale))} dB")


@pytest.mark.parametrize("row", SERVED[:1] + [r for r in SERVED if not r.bf16_auto][:1] + [r for r in SERVED if r.bf16_backends == ("pytorch",)][:1],
                         ids=lambda r: f"{r.entry}-x{r.scale}")
def test_auto_follows_the_card(row, sample):
    method = create(row.method, torch.device("cpu"), row.lr_kind)
    lr = np.ascontiguousarray(sample[:24, :24])
    result = upscale(lr, method, row.scale, precision="auto")
    assert result.served == row
    if method.backend_at(row.scale) not in row.bf16_backends:
        assert result.precision == "fp32"  # even where the CPU runs bf16 faster
    else:
        assert result.precision == resolve_precision("auto", method.device)  # bf16 where this CPU runs it faster


def test_weights_are_checked_on_the_lr_kind_they_serve(sample):
    from microsr_core.models.bf16_gate import check_degradation

    crop = sample[:96, :96]
    assert check_degradation(4, "bicubic").kind == "bicubic" and check_degradation(1, "real").kind == "gaussian"
    captured = check_degradation(4, "real")
    assert captured.kind == "microscope"
    # a capture is blurred and noisy: its LR is not the bicubic downscale of the crop
    assert float(np.abs(captured.apply(crop) - check_degradation(4, "bicubic").apply(crop)).mean()) > 0.005
