#!/usr/bin/env bash
# The GPU checks of issue 14 (inferrt's tools), in one run, ending in a short table:
#
#   1. bench/run.py on torchvision ResNet-50 FP16 (batches 1 and 64): inferrt's median time per query.
#   2. inferrt exec on the same model (same seeded weights, exported with a dynamic batch) at each batch, FP16 and
#      --useCudaGraph as the bench's execution context; its report goes to exec_resnet50.log and its median GPU
#      compute time (from --exportTimes, trtexec's layout) must be within 10% of the bench's.
#   3. inferrt report of the batch-64 plan with exec's --exportProfile times (report_resnet50.html).
#   4. NVIDIA's Polygraphy, unmodified, with inferrt as its TensorRT (the tensorrt alias on PYTHONPATH): inspect model
#      --display-as=trt, convert, inspect model of the plan, run --trt --onnxrt, on a small Conv/Relu/Add model and on
#      ResNet-50 (polygraphy.log).
#   5. With --tests: the gpu-marked tests of the tools (tests/alias tests/cli tests/report and Polygraphy's INT8
#      calibration, tests/builder/test_calibrators_polygraphy.py; gpu_tests.log).
#
#   bash bench/tools_gpu_check.sh [--tests]             # on the GPU machine
#   bash bench/tools_gpu_check.sh --device cpu --model bert_base --small --batches 2 --no-tests   # smoke test, CPU
#
# Options: --device cuda|cpu (default cuda), --model NAME (a bench/run.py model, default resnet50), --small (the
# bench's tiny configs), --batches LIST (default 1,64), --duration S (exec's --duration, default 3), --tests (run
# step 5 too). On the CPU the bench and exec run FP32 and Polygraphy's run --trt is skipped (it needs libcudart).
# Files go to $OUT when it is set (the device machine's result folder), else bench/results/tools_gpu_check; at most
# seven files: summary.txt, tools_gpu_check.log, bench_MODEL.json, exec_MODEL.log, report_MODEL.html,
# polygraphy.log, gpu_tests.log. Polygraphy comes from the environment, else from a carried wheel .whl/polygraphy-*.whl
# (pip download --no-deps polygraphy==0.53.6 -d .whl; it has no dependencies).
# Exit status: 0 when every check passed or was skipped, 1 when one failed, 2 for a wrong option.
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
PY=${PYTHON:-python3}
DEVICE=cuda
MODEL=resnet50
SMALL=""
BATCHES="1,64"
DURATION=3
TESTS=0
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=${2:-}; shift 2 ;;
    --model) MODEL=${2:-}; shift 2 ;;
    --small) SMALL=--small; shift ;;
    --batches) BATCHES=${2:-}; shift 2 ;;
    --duration) DURATION=${2:-}; shift 2 ;;
    --tests) TESTS=1; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "tools_gpu_check.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$DEVICE" in cuda|cpu) ;;
  *) echo "tools_gpu_check.sh: --device must be cuda or cpu, not '$DEVICE'" >&2; exit 2 ;;
esac
case "$MODEL" in resnet50|mobilenet_v2|vit_b_16|bert_base|gpt2) ;;
  *) echo "tools_gpu_check.sh: --model must be one of bench/run.py's models (resnet50, mobilenet_v2, vit_b_16," \
       "bert_base, gpt2), not '$MODEL'" >&2; exit 2 ;;
esac
if ! [[ "$BATCHES" =~ ^[0-9]+(,[0-9]+)*$ ]]; then
  echo "tools_gpu_check.sh: --batches must be a comma-separated list of batch sizes, not '$BATCHES'" >&2; exit 2
fi

RES=${OUT:-$ROOT/bench/results/tools_gpu_check}
mkdir -p "$RES" || exit 2
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
LOG=$RES/tools_gpu_check.log
STEPS=$WORK/steps.tsv
: >"$LOG"; : >"$STEPS"; : >"$RES/exec_$MODEL.log"; : >"$RES/polygraphy.log"

say() { echo "== $*" | tee -a "$LOG"; }
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$STEPS"; }

# step NAME LOGFILE EXPECT -- COMMAND...: run COMMAND (output to LOGFILE and the main log); PASS when it exits 0 and
# its output matches the extended regular expression EXPECT (empty: no pattern is required)
step() {
  local name=$1 log=$2 expect=$3
  shift 4
  say "$name: $*"
  local out=$WORK/step.out rc t0=$SECONDS
  "$@" >"$out" 2>&1
  rc=$?
  local took="[$((SECONDS - t0)) s]"
  { echo "\$ $*"; cat "$out"; echo "[exit $rc]"; echo; } >>"$log"
  [ "$log" = "$LOG" ] || tail -n 5 "$out" >>"$LOG"
  if [ $rc -ne 0 ]; then
    record "$name" FAIL "$took exit $rc: $(grep -v '^\s*$' "$out" | tail -n 1 | cut -c1-160)"
  elif [ -n "$expect" ] && ! grep -Eq "$expect" "$out"; then
    record "$name" FAIL "$took exit 0 but the output lacks /$expect/"
  else
    record "$name" PASS "$took $(grep -v '^\s*$' "$out" | tail -n 1 | sed 's/^ *//' | cut -c1-160)"
  fi
  return $rc
}

# Polygraphy: installed, or the carried wheel
if ! $PY -c "import polygraphy" 2>/dev/null; then
  whl=$(ls "$ROOT"/.whl/polygraphy-*.whl 2>/dev/null | head -n 1)
  if [ -n "$whl" ] && $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$WORK/site" \
      "$whl" >>"$LOG" 2>&1; then
    export PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
  fi
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
BASE_PYTHONPATH=$PYTHONPATH   # without the tensorrt alias, which only Polygraphy's steps put on the path
export POLYGRAPHY_AUTOINSTALL_DEPS=0 PYTHONUNBUFFERED=1
HAVE_PG=0
$PY -c "import polygraphy" 2>/dev/null && HAVE_PG=1

say "device: $($PY -c "import torch; c = torch.cuda; print(c.get_device_name() if c.is_available() else 'no GPU')" 2>&1)"
if [ "$DEVICE" = cuda ] && ! $PY -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
  echo "tools_gpu_check.sh: no CUDA GPU here (torch.cuda.is_available() is False); use --device cpu for a smoke test" \
    | tee -a "$LOG" >&2
  exit 1
fi

# 1. the bench
BENCH_JSON=$RES/bench_$MODEL.json
# (TorchScript's export and eager attention, as exec's model below: the two times compare the same graph)
step "bench/run.py $MODEL" "$LOG" "" -- $PY bench/run.py --models "$MODEL" --batches "$BATCHES" --modes eager \
  --exporter torchscript --attn eager --device "$DEVICE" $SMALL --json "$BENCH_JSON"

# the same model for exec and Polygraphy (bench/models.py's seeded weights, a dynamic batch), and its shape flags
# with @ for the batch: trtexec's spelling on line 1, Polygraphy's on line 2
ONNX=$WORK/$MODEL.onnx
SPECS=$($PY bench/tools_gpu_model.py bench "$MODEL" "$ONNX" $SMALL 2>>"$LOG")
EXEC_SPEC=$(sed -n 1p <<<"$SPECS")
PG_SPEC=$(sed -n 2p <<<"$SPECS")
if [ -z "$PG_SPEC" ]; then
  record "export $MODEL ONNX" FAIL "bench/tools_gpu_model.py failed: see tools_gpu_check.log"
  $PY bench/tools_gpu_summary.py --bench "$BENCH_JSON" --model "$MODEL" --steps "$STEPS" --out "$RES/summary.txt"
  exit 1
fi

# 2. inferrt exec at each batch
if [ "$DEVICE" = cuda ]; then PREC=(--fp16 --useCudaGraph); else PREC=(--cpu); fi
TIMES=()
LAST=""
for B in ${BATCHES//,/ }; do
  if step "inferrt exec $MODEL batch $B" "$RES/exec_$MODEL.log" "Compute Time: min = .* median = " -- \
      $PY -m inferrt exec --onnx "$ONNX" "${PREC[@]}" --shapes "${EXEC_SPEC//@/$B}" --noProgress \
      --profilingVerbosity=detailed --saveEngine "$WORK/${MODEL}_b$B.plan" --warmUp 500 --duration "$DURATION" \
      --exportTimes "$WORK/times_b$B.json" --exportProfile "$WORK/profile_b$B.json"; then
    TIMES+=(--exec-times "$B=$WORK/times_b$B.json")
    LAST=$B
  fi
done

# 3. the browser report of the last batch's plan with its per-layer times
if [ -n "$LAST" ]; then
  step "inferrt report $MODEL batch $LAST" "$LOG" "" -- $PY -m inferrt report "$WORK/${MODEL}_b$LAST.plan" \
    --profile-json "$WORK/profile_b$LAST.json" -o "$RES/report_$MODEL.html"
else
  record "inferrt report $MODEL" SKIP "no plan: every exec failed"
fi

# 4. Polygraphy with inferrt as its TensorRT
polygraphy() {
  $PY -c 'import sys; from polygraphy.tools import main; sys.argv[0] = "polygraphy"; sys.exit(main())' "$@"
}
if [ $HAVE_PG = 1 ]; then
  export PYTHONPATH="$($PY -m inferrt.alias):$PYTHONPATH"
  step "polygraphy imports inferrt as tensorrt" "$RES/polygraphy.log" "is inferrt" -- $PY -c "import tensorrt, inferrt
assert tensorrt is inferrt
print('tensorrt', tensorrt.__version__, 'is inferrt', inferrt.inferrt_version)"
  CONV_SPEC=$($PY bench/tools_gpu_model.py conv "$WORK/conv.onnx" 2>>"$LOG" | sed -n 2p)
  PGLOG=$RES/polygraphy.log
  # Polygraphy's --trt-*-shapes: batch 1, 2 and 4 for the conv model, 1, 4 and 8 for the bench model
  for M in conv "$MODEL"; do
    if [ "$M" = conv ]; then
      SPEC=$CONV_SPEC; MIN=1; OPT=2; MAX=4
      SHOW=(--show layers attrs); TOL=(); FP16=()   # Polygraphy's default tolerances
    else
      SPEC=$PG_SPEC; MIN=1; OPT=4; MAX=8
      SHOW=(); TOL=(--atol 1e-3 --rtol 1e-3)   # FP32 on the GPU against onnxruntime's CPU kernels
      if [ "$DEVICE" = cuda ]; then FP16=(--fp16); else FP16=(); fi
    fi
    read -r -a MINS <<<"${SPEC//@/$MIN}"; read -r -a OPTS <<<"${SPEC//@/$OPT}"; read -r -a MAXS <<<"${SPEC//@/$MAX}"
    SHAPES=(--trt-min-shapes "${MINS[@]}" --trt-opt-shapes "${OPTS[@]}" --trt-max-shapes "${MAXS[@]}")
    step "polygraphy inspect model $M.onnx --display-as=trt" "$PGLOG" "Explicit Batch Network" -- \
      polygraphy inspect model "$WORK/$M.onnx" --display-as=trt "${SHOW[@]}"
    step "polygraphy convert $M.onnx${FP16:+ --fp16}" "$PGLOG" "" -- polygraphy convert "$WORK/$M.onnx" \
      -o "$WORK/pg_$M.plan" "${FP16[@]}" "${SHAPES[@]}"
    if [ -s "$WORK/pg_$M.plan" ]; then
      step "polygraphy inspect model pg_$M.plan" "$PGLOG" "Explicit Batch Engine" -- polygraphy inspect model \
        "$WORK/pg_$M.plan" --show layers
    else
      record "polygraphy inspect model pg_$M.plan" SKIP "convert wrote no plan"
    fi
    if [ "$DEVICE" = cuda ]; then
      step "polygraphy run $M.onnx --trt --onnxrt ${TOL[*]}" "$PGLOG" "PASSED \| All outputs matched" -- \
        polygraphy run "$WORK/$M.onnx" --trt --onnxrt "${SHAPES[@]}" --input-shapes "${OPTS[@]}" "${TOL[@]}"
    else
      record "polygraphy run $M.onnx --trt --onnxrt" SKIP "needs a GPU: Polygraphy's TrtRunner calls libcudart itself"
    fi
  done
else
  record "polygraphy" FAIL "polygraphy is not importable and no .whl/polygraphy-*.whl was carried"
fi

# 5. the gpu-marked tests of the tools
if [ $TESTS = 1 ] && [ "$DEVICE" = cpu ]; then
  record "pytest -m gpu (the tools' GPU tests)" SKIP "--device cpu: gpu-marked tests skip without a GPU"
elif [ $TESTS = 1 ]; then
  TESTS_RUN=(tests/alias tests/cli tests/report tests/builder/test_calibrators_polygraphy.py)
  step "pytest -m gpu ${TESTS_RUN[*]}" "$RES/gpu_tests.log" " passed" -- env PYTHONPATH="$BASE_PYTHONPATH" \
    $PY -m pytest -q -m gpu -p no:cacheprovider "${TESTS_RUN[@]}"
else
  record "pytest -m gpu (the tools' GPU tests)" SKIP "not asked for (--tests)"
fi

$PY bench/tools_gpu_summary.py --bench "$BENCH_JSON" --model "$MODEL" "${TIMES[@]}" --steps "$STEPS" \
  --out "$RES/summary.txt" 2>&1 | tee -a "$LOG"
status=${PIPESTATUS[0]}
echo "files: $RES" | tee -a "$LOG"
exit "$status"
