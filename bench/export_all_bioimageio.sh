#!/usr/bin/env bash
# Export every shipped weights entry as a bioimage.io package (the export runs test_model before
# writing it), then load each written package from disk and run bioimageio.core.test_model on it
# again. Prints PASS/FAIL per entry with its time; exits 1 if any entry fails. One Python process
# for all entries: importing torch and bioimageio costs more CPU than exporting a small model.
#
#   bash bench/export_all_bioimageio.sh [OUT_DIR]    # default: a new temporary folder (kept)
#
# Needs ../shared beside the repository: the citations take the papers' titles from it.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d -t microsr-bioimageio.XXXXXX)}
mkdir -p "$out"
python3 - "$out" <<'EOF'
import sys
import time
import warnings
from pathlib import Path

from bioimageio.core import test_model

from microsr_core.models.bioimageio_export import export_bioimageio, first_error
from microsr_core.errors import MicroSRError
from microsr_core.models.weights import read_manifest

out = Path(sys.argv[1])
warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
names, failed, start_all = list(read_manifest()), [], time.perf_counter()
for name in names:
    start = time.perf_counter()
    try:
        package = export_bioimageio(name, out / f"{name}.zip").path
        summary = test_model(package)
        reason = "" if summary.status == "passed" else f"written package: {first_error(summary)}"
    except MicroSRError as exc:
        reason = str(exc)
    if reason:
        failed.append(name)
    print(f"{name:<24} {'FAIL' if reason else 'PASS'} {time.perf_counter() - start:6.0f} s  {reason}".rstrip(), flush=True)
print(f"{len(names)} entries, {len(failed)} failed, {time.perf_counter() - start_all:.0f} s; packages in {out}")
sys.exit(1 if failed else 0)
EOF
