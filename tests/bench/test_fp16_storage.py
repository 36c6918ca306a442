"""bench/fp16_storage.py: the float16 storage change of each card, measured as publish does, nothing written."""

import importlib.util
from pathlib import Path

from microsr_core.models.weights import FLOAT16, restore
from tests.helpers import publish_random

spec = importlib.util.spec_from_file_location("fp16_storage", Path(__file__).resolve().parents[2] / "bench" / "fp16_storage.py")
fp16_storage = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fp16_storage)


def test_one_row_per_card_measured_or_recorded_and_nothing_written(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MICROSR_WEIGHTS", str(tmp_path))
    publish_random(tmp_path, "vdsr_x2", "vdsr", "VDSR", (2,), seed=1, depth=3, channels=8)
    publish_random(tmp_path, "vdsr_x3", "vdsr", "VDSR", (3,), seed=2, depth=3, channels=8)
    restore("vdsr_x3", FLOAT16, lambda name, card, state: {"fp16_storage_delta_db": {"3": 0.0042}}, tmp_path)
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    assert fp16_storage.main([]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| vdsr")]
    assert rows[0].startswith("| vdsr_x2 | bicubic | ") and rows[0].endswith(" dB | passes |") and "x2 +0.0000 dB" not in rows[0]
    assert rows[1].endswith("| x3 +0.0042 dB | stored as float16 (recorded) |")
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == before
