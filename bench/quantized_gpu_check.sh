#!/usr/bin/env bash
# Issue 13's GPU checks in one command, ending in a short table: the quantized GPU tests (Triton kernels at their
# tuning points, both QUANTIZE modes; graph capture of the generic products and of an FP16 INT8/FP8 engine; failed
# captures give their memory back) and the quantized ResNet-50 bench at batches 64 and 256 (INT8 / FP8 vs FP16, CUDA
# graph state, which QUANTIZE point the autotuner chose, memory left reserved after each row).
#
#   bash bench/quantized_gpu_check.sh            # on a GPU; files under $OUT, else bench/results/
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
DIR=${OUT:-bench/results}
mkdir -p "$DIR"
status=0
$PY -m pytest -q -p no:cacheprovider -m gpu tests/tactics/test_triton_quantized_gpu.py tests/tactics/test_triton_qdq.py \
    tests/runtime/test_capture_errors.py tests/runtime/test_capture_isolation.py > "$DIR/quantized_gpu_tests.txt" 2>&1 \
    || status=1
tail -n 3 "$DIR/quantized_gpu_tests.txt"
$PY bench/quantized.py --models resnet50 --batches 64,256 --modes int8,fp8 --json "$DIR/quantized.json" \
    > "$DIR/quantized_bench.txt" 2>&1 || status=1
grep -E "CUDA graph|Error|error" "$DIR/quantized_bench.txt" | sort | uniq -c | head -n 5
$PY - "$DIR/quantized.json" <<'PY' || status=1
import json, sys
d = json.load(open(sys.argv[1]))
print(d["device"])
print(f"{'batch':>5} {'fp16 ms':>8} {'int8 ms':>8} {'x fp16':>7} {'err':>6} {'top1':>5} {'fp8 ms':>8} {'x fp16':>7}  graphs (fp16/int8/fp8)  QUANTIZE int8  GB left")
for r in d["rows"]:
    g = "/".join(str(r.get(f"{m}_graph"))[:24] for m in ("fp16", "int8", "fp8"))
    print(f"{r['batch']:>5} {r['fp16_ms']:>8.2f} {r['int8_ms']:>8.2f} {r['int8_speedup_vs_fp16']:>7.2f} "
          f"{r['int8_err']:>6.3f} {r.get('int8_top1_agreement', 0):>5.2f} {r['fp8_ms']:>8.2f} "
          f"{r['fp8_speedup_vs_fp16']:>7.2f}  {g}  {r.get('int8_quantize_points')}  {r.get('cuda_reserved_gb_after')}")
    print("      int8 layers:", r["int8_layers"], r.get("int8_qdq_layers"))
PY
exit $status
