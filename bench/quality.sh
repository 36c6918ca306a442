#!/usr/bin/env bash
# Held-out quality of the shipped models: every figure of docs/results.md's Tables 1-3 comes
# from one `evaluate` call below, written to docs/eval/<model>_<set>_test_x<scale>.json.
# Run from the repository root with ../shared beside it: `bash bench/quality.sh [THREADS]`.
# Only the test split (microsr_core.data.split_of) is used: no training choice looked at it.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS="${1:-2}"
DATA=../shared/data
OUT=docs/eval
EVAL="python3 -m microsr_core evaluate --split test"

# Held-out BCCD cells: every cell cut (MicroGAN section 3.1) from the test fields.
CELLS=$(mktemp -d)
trap 'rm -rf "$CELLS"' EXIT
python3 - "$CELLS" <<'PY'
import sys
from pathlib import Path
from microsr_core.cells import save_cells
from microsr_core.data import list_images, split_of
for field in list_images("../shared/data/bccd/images"):
    if split_of(field) == "test":
        save_cells(field, sys.argv[1], pad=4)  # files are named <field>_cell<NNN>_...
PY

# MicroGAN, the paper's setting: 15x15 Gaussian blur, same size (x1); the baseline is the blurred input.
$EVAL --hr $DATA/bccd/images --degradation gaussian --scale 1 --methods bicubic,microgan,microgan_fs --json $OUT/microgan_bccd_test_x1.json
$EVAL --hr "$CELLS" --split all --degradation gaussian --scale 1 --methods bicubic,microgan,microgan_fs --json $OUT/microgan_bccd_cells_test_x1.json
# Every method at the app's scales, on both stains.
for s in 2 3 4; do
  $EVAL --hr $DATA/bccd/images --scale $s --methods bicubic,vdsr,microgan,microgan_fs --json $OUT/all_bccd_test_x$s.json
done
for set in dataset1 dataset2; do
  for s in 2 4 8; do
    methods=bicubic,prior_none,prior
    [ $s = 8 ] || methods=bicubic,vdsr,prior_none,prior,microgan,microgan_fs
    $EVAL --hr $DATA/wbc_seg/$set/images --mask-dir $DATA/wbc_seg/$set/masks --scale $s --methods $methods --json $OUT/all_wbc_${set}_test_x$s.json
  done
  $EVAL --hr $DATA/wbc_seg/$set/images --mask-dir $DATA/wbc_seg/$set/masks --scale 3 --methods bicubic,vdsr,microgan --json $OUT/all_wbc_${set}_test_x3.json
done
