#!/usr/bin/env bash
# Real captures, leave-one-family-out (issue 37): the real-capture weights (lr-kind real) against
# bicubic on the test split of each stain, LR made by pipelines the training never saw:
#   microscope  the documented microscope test point (bench/quality.sh REALISTIC; a one-simulator capture)
#   scanner     held out: stage motion, lateral chromatic aberration, Lanczos resampling, WebP
#   phone       held out: vignetting, Menon demosaicing, S-curve, bilateral denoise, sharpening, JPEG q70
#   wsi         held out (added 2026-12-07 night, before any family change it was meant to judge): coma, hot pixels, JPEG 2000
# (microsr_core/capture_family.py). Real-ESRGAN general-v3 (../shared/peers, imported as
# import@realesr) runs on the same LR at every scale (x2 and x3: its x4 output resized down, as its --outscale does). Per-image rows give the worst image and
# invented colour. Written to docs/eval/family/${RUN}_<pipeline>_<set>_test_x<scale>.json, summarised by
# bench/family_table.py.
#
#   bash bench/family.sh                                   # the shipped weights (RUN=family)
#   MICROSR_WEIGHTS=DIR RUN=before bash bench/family.sh     # another weights folder
#   SCALES="2 4" SETS="bccd wbc1" PIPES=phone bash bench/family.sh
#   LIMIT=8 bash bench/family.sh     # the first 8 test images of each set (BCCD fields are 640x480: ~1 min an image on 2 busy cores)
#   METHODS=bicubic,prior,prior_none SCALES=4 bash bench/family.sh       # other methods (the peer still joins)
#   KIND=bicubic RUN=clean-weights bash bench/family.sh                  # the bicubic-kind weights on the same captures
#   PIPES=bicubic RUN=on-bicubic bash bench/family.sh                    # the real-capture weights on a bicubic downscale
#   SPLIT=val …                                                          # the val split (a choice made on numbers: val, not test)
#   SPLIT=val PIPES="family usbcam" RUN=val-x bash bench/family.sh        # choosing weights: val split, the family and the
#                                                                         # validation pipeline usbcam (kinds neither training nor test has)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=../shared/data
OUT=${OUT:-docs/eval/family}
RUN=${RUN:-family}
REALISTIC="na=0.27,defocus=0.4,anisotropy=1.25,angle_deg=35,full_well=1500,read_noise=8,jpeg_quality=85"
PEER=${PEER-../shared/peers/realesr-general-x4v3.safetensors}  # PEER= leaves the peer out
export MICROSR_HOME=${MICROSR_HOME:-$(mktemp -d)}
peer=""
if [ -f "$PEER" ]; then
  python3 -m microsr_core models list 2>/dev/null | grep -q "import@realesr" || python3 -m microsr_core models add "$PEER" --name realesr >/dev/null
  peer=",import@realesr"
fi
for s in ${SCALES:-2 3 4}; do
  for set in ${SETS:-bccd wbc1 wbc2}; do
    case $set in bccd) hr=$DATA/bccd/images ;; wbc*) hr=$DATA/wbc_seg/dataset${set#wbc}/images ;; esac
    for pipe in ${PIPES:-microscope scanner phone wsi}; do
      [ -n "${SKIP_DONE:-}" ] && [ -f $OUT/${RUN}_${pipe}_${set}_${SPLIT:-test}_x$s.json ] && continue
      methods=${METHODS:-bicubic,vdsr,microgan}$peer
      capture=(); [ $pipe = microscope ] && capture=(--capture $REALISTIC)
      python3 -m microsr_core evaluate --split ${SPLIT:-test} --hr $hr --scale $s --degradation $pipe "${capture[@]}" --lr-kind ${KIND:-real} \
        --methods $methods ${LIMIT:+--limit $LIMIT} --per-image --json $OUT/${RUN}_${pipe}_${set}_${SPLIT:-test}_x$s.json > /dev/null
      echo "done $pipe $set x$s"
    done
  done
done
