"""The float16 storage change of every shipped card, measured as ``publish --fp16`` measures it,
without writing anything: one Markdown table (the one in docs/results.md).

    python bench/fp16_storage.py                    # every shipped card
    python bench/fp16_storage.py vdsr_x2 prior_x4   # only these

For a card still stored as float32: :func:`~microsr_core.models.bf16_gate.measure_fp16_storage`
(the worst Y-PSNR change of the float16-rounded weights against the float32 ones, per scale, on
the bf16 check crops and LR) and whether it passes the guard. A card already stored as float16
shows the change recorded when it was rounded (its float32 weights are gone). The sizes are of
the file as stored and as float16 would store it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from safetensors.torch import save

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from microsr_core.models.bf16_gate import check_crops, measure_fp16_storage, within_guard  # noqa: E402
from microsr_core.models.serving import TOLERANCE_DB  # noqa: E402
from microsr_core.models.serving import card_kind  # noqa: E402
from microsr_core.models.weights import FLOAT16, in_storage, load_weights, per_scale, read_manifest, storage_of, weights_dir  # noqa: E402

MB = 1e6


def row(entry: str) -> str:
    """The table row of shipped card ``entry``."""
    state, card = load_weights(entry)
    stored_mb = (weights_dir() / card["file"]).stat().st_size / MB
    if storage_of(card) == FLOAT16:
        deltas, how = card["fp16_storage_delta_db"], "stored as float16 (recorded)"
    else:
        deltas = measure_fp16_storage(card["method"], entry, card, state)
        how = "passes" if within_guard(deltas) else "refused"
    fp16_mb = len(save(in_storage(state, FLOAT16))) / MB
    return f"| {entry} | {card_kind(card)} | {stored_mb:.2f} | {fp16_mb:.2f} | {per_scale(deltas)} | {how} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("entries", nargs="*", help="shipped cards to measure (default: all)")
    args = parser.parse_args(argv)
    entries = args.entries or sorted(read_manifest())
    print(f"Worst Y-PSNR change of float16-stored weights against float32, fp32 compute, on {len(check_crops())} check crops "
          f"(guard {TOLERANCE_DB} dB)\n")
    print("| card | LR | file MB | as float16 MB | fp16 storage change | guard |")
    print("| --- | --- | --- | --- | --- | --- |")
    for entry in entries:
        print(row(entry), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
