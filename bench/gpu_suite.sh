#!/bin/bash
# The gpu-marked suite on a lent GPU, in one device command, leaving reasons even when cut by the time limit:
#   bash bench/gpu_suite.sh [seconds for the suite, default 480] [xdist workers, default 16] [marker expression]
# The marker expression defaults to "gpu and not slow" (about 3 minutes on an H100 with 16 workers); the slow ones
# (the GPU model zoo, one test per model with both exporters at batch 1, 64 and a dynamic profile, and BERT-base
# refits) take far longer than one device command: run them by name, a few zoo models per call, e.g.
#   bash bench/gpu_suite.sh 540 8 "gpu and slow" -k "resnet50 or mobilenet_v2 or bert"
# Each zoo test's rows are kept in $OUT/zoo/<model>.json and rendered into $OUT/zoo.md.
# Writes into $OUT (or ./gpu_suite_out): suite.log (one line per test, -v), failures.txt (each failure's traceback,
# appended as it happens through tests/conftest.py's INFERRT_FAILURE_LOG) and durations in suite.log when it ends.
# Keeps pytest's cache (no -p no:cacheprovider), so a second call on the same warm machine can rerun only the
# failures with `python -m pytest --lf -m gpu tests`.
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_suite_out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
SECS=${1:-480}
WORKERS=${2:-16}
MARKS=${3:-gpu and not slow}
shift $(( $# < 3 ? $# : 3 ))     # anything after the third argument goes to pytest as is
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"
rm -f "$OUT/failures.txt" "$OUT/durations.txt"
# worksteal: an idle worker takes queued tests from a busy one (with the default scheduling, tests queued behind one
# long test were never reached before the time limit)
DIST=$(python -c "import xdist, sys; v = tuple(int(p) for p in xdist.__version__.split('.')[:2]); print('--dist worksteal' if v >= (3, 2) else '')")
T0=$(date +%s)
INFERRT_FAILURE_LOG="$OUT/failures.txt" INFERRT_DURATION_LOG="$OUT/durations.txt" INFERRT_ZOO_JSON_DIR="$OUT/zoo" \
    timeout -s INT -k 30 "$SECS" python -m pytest -m "$MARKS" -n "$WORKERS" $DIST -v tests "$@" \
    --tb=short --durations=25 -W ignore::DeprecationWarning > "$OUT/suite.log" 2>&1
RC=$?
echo "suite exit $RC after $(( $(date +%s) - T0 )) s$([ $RC = 124 -o $RC = 2 ] && echo ' (cut by the time limit)')"
echo "passed $(grep -c ' PASSED' "$OUT/suite.log"), failed $(grep -c ' FAILED' "$OUT/suite.log"),"\
     "skipped $(grep -c ' SKIPPED' "$OUT/suite.log"), collected $(grep -oE '[0-9]+ workers \[[0-9]+ items\]' "$OUT/suite.log")"
echo "pytest: $(grep -E '^=+ .* in [0-9.]+s' "$OUT/suite.log" | tail -1)$(grep -q KeyboardInterrupt "$OUT/suite.log" && echo ' (INTERRUPTED: not every test ran)')"
grep -E ' FAILED' "$OUT/suite.log" | sed 's/.*FAILED //' | sort -u
grep -E '^E  ' "$OUT/failures.txt" 2>/dev/null | sort | uniq -c | sort -rn | head -30
echo "slowest test files (summed seconds of every phase, all workers):"
awk '{split($3, a, "::"); t[a[1]] += $1} END {for (f in t) printf "%8.1f %s\n", t[f], f}' "$OUT/durations.txt" 2>/dev/null \
    | sort -rn | head -15
echo "slowest tests:"
sort -rn "$OUT/durations.txt" 2>/dev/null | head -10
if ls "$OUT"/zoo/*.json > /dev/null 2>&1; then
    python -c "import glob, json, sys; json.dump({'device': 'cuda', 'rows': [r for p in sorted(glob.glob(sys.argv[1] + '/*.json')) for r in json.load(open(p))]}, open(sys.argv[2], 'w'), indent=1)" "$OUT/zoo" "$OUT/zoo.json"
    python -m bench.zoo --markdown "$OUT/zoo.json" --output "$OUT/zoo.md" && grep -c '| pass' "$OUT/zoo.md"
fi
