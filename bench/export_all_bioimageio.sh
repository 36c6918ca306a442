#!/usr/bin/env bash
# Export every shipped weights entry as a bioimage.io package, then test each written package
# again with bioimageio.core's own command line in a fresh process, as a consumer would.
# Prints PASS/FAIL per entry with its time; exits 1 if any entry fails.
#
#   bash bench/export_all_bioimageio.sh [OUT_DIR]    # default: a new temporary folder (kept, with logs)
#
# Needs ../shared beside the repository: the citations take the papers' titles from it.
set -u
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d -t microsr-bioimageio.XXXXXX)}
mkdir -p "$out"
names=$(python3 -c 'from microsr_core.weights import read_manifest; print(" ".join(read_manifest()))')
failed=0
start_all=$SECONDS
for name in $names; do
    start=$SECONDS
    log="$out/$name.log"
    if python3 -m microsr_core export-bioimageio "$name" "$out/$name.zip" >"$log" 2>&1 \
        && python3 -m bioimageio.core test "$out/$name.zip" >>"$log" 2>&1; then
        status=PASS
    else
        status=FAIL
        failed=$((failed + 1))
    fi
    printf '%-24s %s %5d s\n' "$name" "$status" $((SECONDS - start))
done
echo "$(wc -w <<<"$names") entries, $failed failed, $((SECONDS - start_all)) s; packages and logs in $out"
[ "$failed" -eq 0 ]
