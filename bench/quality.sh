#!/usr/bin/env bash
# Held-out quality of the shipped models: every figure of docs/results.md's tables for VDSR, the
# geometry prior and MicroGAN comes from one `evaluate` call below, written to
# docs/eval/shipped_<set>_test_x<scale>.json (<set>: bccd, bccdcells, wbc1, wbc2).
# Only the test split (microsr_core.imaging.data.split_of) is used: no training choice looked at it.
#
#   bash bench/quality.sh                       # the shipped weights
#   MICROSR_WEIGHTS=DIR RUN=pretrained bash bench/quality.sh x1   # MicroGAN from another weights folder
#   bash bench/quality.sh app                   # the app's scales only (x2-x8)
#   bash bench/quality.sh real                  # realistic captures only (docs/eval/real_*.json)
#   SCALES="2 4" bash bench/quality.sh real      # ... at those scales only
#   bash bench/quality.sh prior                 # the geometry prior's table (docs/eval/prior_*.json)
#
# Run from the repository root with ../shared beside it. The first argument limits the
# sections (x1: MicroGAN's paper setting only; app: the clean x2-x8 tables; real: the
# realistic-capture tables; prior: the geometry prior's).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=../shared/data
OUT=docs/eval
RUN=${RUN:-shipped}
ONLY=${1:-all}
EVAL="python3 -m microsr_core evaluate --split test"

# Realistic captures (issue 24): a lower objective, camera pixels, shot/read noise and JPEG, with
# every parameter off the centre of the training ranges (microsr_core.imaging.degrade.CaptureRanges: NA
# 0.2-0.6, defocus 0-0.6 LR px, anisotropy 1-1.4, full well 800-20000 e- log-uniform, read noise
# 1-12 e-, JPEG 70-95 on 80 %): a blurrier objective, fewer photons, more read noise. No colour
# drift, so the HR stays the reference. Each method runs its real-capture weights (lr-kind real)
# and, for comparison, the bicubic-trained ones (lr-kind bicubic: what users got before).
REALISTIC="na=0.27,defocus=0.4,anisotropy=1.25,angle_deg=35,full_well=1500,read_noise=8,jpeg_quality=85"
if [ "$ONLY" = real ]; then
  for s in ${SCALES:-2 3 4}; do
    for set in bccd wbc1 wbc2; do
      case $set in bccd) hr=$DATA/bccd/images ;; wbc*) hr=$DATA/wbc_seg/dataset${set#wbc}/images ;; esac
      $EVAL --hr $hr --scale $s --degradation microscope --capture $REALISTIC --lr-kind real --methods bicubic,vdsr,microgan --json $OUT/real_${set}_test_x$s.json
      bicubic_weights=vdsr,microgan; [ $s = 3 ] || bicubic_weights=$bicubic_weights,prior  # the prior serves x2/x4/x8
      $EVAL --hr $hr --scale $s --degradation microscope --capture $REALISTIC --lr-kind bicubic --methods $bicubic_weights --json $OUT/realbicubicweights_${set}_test_x$s.json
    done
  done
  exit 0
fi

# The geometry prior against bicubic, VDSR and its none-prior ablation (issue 25), on both stains and
# BCCD fields, at every scale it serves (VDSR serves x2-x4 only); leukocytes with their expert masks
# (cell-only PSNR and the parsing map's IoU). Written to docs/eval/prior_<set>_test_x<scale>.json.
if [ "$ONLY" = prior ]; then
  for s in ${SCALES:-2 4 8}; do
    methods=bicubic,vdsr,prior_none,prior; [ $s = 8 ] && methods=bicubic,prior_none,prior
    $EVAL --hr $DATA/bccd/images --scale $s --methods $methods --json $OUT/prior_bccd_test_x$s.json
    for set in 1 2; do
      $EVAL --hr $DATA/wbc_seg/dataset$set/images --mask-dir $DATA/wbc_seg/dataset$set/masks --scale $s --methods $methods --json $OUT/prior_wbc${set}_test_x$s.json
    done
  done
  exit 0
fi

# MicroGAN, the paper's setting: 15x15 Gaussian blur, same size (x1); the "bicubic" row at x1
# is the blurred input itself. On whole held-out fields and on every cell cut from them (section 3.1).
if [ "$ONLY" != app ]; then
CELLS=$(mktemp -d)
trap 'rm -rf "$CELLS"' EXIT
python3 - "$CELLS" <<'PY'
import sys
from microsr_core.imaging.cells import save_cells
from microsr_core.imaging.data import list_images, split_of
for field in list_images("../shared/data/bccd/images"):
    if split_of(field) == "test":
        save_cells(field, sys.argv[1], pad=4)  # files are named <field>_cell<NNN>_...
PY
gan=bicubic,microgan,microgan_fs
[ "$RUN" = shipped ] || gan=bicubic,microgan
$EVAL --hr $DATA/bccd/images --degradation gaussian --scale 1 --methods $gan --json $OUT/${RUN}_bccd_test_x1.json
$EVAL --hr "$CELLS" --split all --degradation gaussian --scale 1 --methods $gan --json $OUT/${RUN}_bccdcells_test_x1.json
fi
[ "$ONLY" = x1 ] && exit 0

# VDSR and MicroGAN (its x2-x4 generator) on both stains at the app's scales; the prior network and its ablation on the
# leukocyte images (with the expert masks: cell-only PSNR and the parsing map's IoU).
for s in 2 3 4; do
  $EVAL --hr $DATA/bccd/images --scale $s --methods bicubic,vdsr,microgan --json $OUT/${RUN}_bccd_test_x$s.json
done
for set in 1 2; do
  for s in 2 3 4 8; do
    case $s in 2|4) methods=bicubic,vdsr,prior_none,prior,microgan ;; 3) methods=bicubic,vdsr,microgan ;; 8) methods=bicubic,prior_none,prior ;; esac
    $EVAL --hr $DATA/wbc_seg/dataset$set/images --mask-dir $DATA/wbc_seg/dataset$set/masks --scale $s --methods $methods --json $OUT/${RUN}_wbc${set}_test_x$s.json
  done
done
