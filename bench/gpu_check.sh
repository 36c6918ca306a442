#!/usr/bin/env bash
# The GPU check of issue 26, prepared for a machine with CUDA (the device tool's lent GPU): in
# under 8 minutes it runs the tests that take the CUDA path, then bench/run.py on the GPU in
# fp32, bf16 and fp16 (every method with weights, 256x256 and 640x480 LR at x4, and the whole
# comparison of one 640x480 field at x4), each into its own report:
#
#   bash bench/gpu_check.sh            # writes docs/benchmarks_gpu_<precision>.md and .json
#   OUT=/some/folder bash bench/gpu_check.sh
#
# Every step has its own time limit, so a hang costs that step only. Run from the repository root.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-docs}
mkdir -p "$OUT"
python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: nothing to check')" || exit 1
python3 -c "import torch; print('GPU:', torch.cuda.get_device_name(0), '| torch', torch.__version__)"
status=0
timeout 180 python3 -m pytest -q tests/models/test_inference.py tests/models/test_precision.py tests/jobs/test_validation.py || status=1
for precision in fp32 bf16 fp16; do
  timeout 100 python3 bench/run.py --device cuda --precision $precision --scales 4 --sizes 256x256,640x480 --repeats 3 \
    --huge 0 --budget 30 --one-image 640x480x4 --out "$OUT/benchmarks_gpu_$precision.md" --json "$OUT/benchmarks_gpu_$precision.json" || status=1
done
exit $status
