#!/usr/bin/env bash
# Issue 6 item 4 and issue 13 item 5: the engine on CUDA, for a GPU host set up as the CUDA image
# (server/src/main/docker/Dockerfile.cuda) is. Not yet run: the one GPU machine a session was lent
# (2026-12-01) had CUDA 13 only, which no published onnxruntime_gpu jar loads, and no network; what
# was measured there instead, and how, is in bench/gpu/ and BENCHMARKS.md "A GPU machine".
# One script, about 10 minutes on an H100: forge the 4B-shape checkpoint and convert it as users
# do (models convert, q4), build the CLI against onnxruntime_gpu, run `bench` on CUDA
# single-stream and batched (1/2/4/8/16 concurrent requests) and on CPU, and estimate what the Java
# API's per-step host<->device copies cost.
#
#   onnx-models/bench/gpu.sh [OUT_DIR]      (from the repository root)
#
# Needs: JDK 17, Maven with the project's dependencies and onnxruntime_gpu resolvable (a seeded
# ~/.m2 or Maven Central), CUDA 12 (cuBLAS, cuBLASLt, cudart, cuRAND) + cuDNN 9 libraries that
# onnxruntime_gpu loads (1.23.2 to 1.29.0 all link CUDA 12), ~20 GB disk.
#
# Why the copies matter: the Java API has no IOBinding, so every decode step copies the whole
# KV cache host->device (past_key_values.*) and device->host (present.*), plus the logits. For
# the 4B shape that is 272 KiB per context token each way: at 2048 tokens ~557 MB per step each
# way, ~35 ms at ~32 GB/s (PCIe 5 x16 in practice), against ~2.5 GB of weights read on-device at
# ~3 TB/s (~1 ms). The script compares decode at 128 and 2048 tokens: the slope per context
# token, divided by 2 x 272 KiB, is the effective transfer bandwidth; if it matches PCIe, the
# copies dominate, and the way around it is to keep the cache on the device (ORT's C API
# IOBinding through a small JNI shim, or the onnxruntime-genai Java API, whose generator keeps
# past/present in device buffers and shares them with GroupQueryAttention).
set -euo pipefail
out="${1:-${OUT:-/tmp/medgemma-gpu}}"
mkdir -p "$out"
model="${MODEL:-/tmp/medgemma-4b-shape}"
LENGTHS="${LENGTHS:-128,512,2048}"
MVN_ARGS="${MVN_ARGS--o}"   # MVN_ARGS= (empty) lets Maven download onnxruntime_gpu
exec > >(tee "$out/gpu.log") 2>&1

echo "== $(date -u +%FT%TZ)"
nvidia-smi --query-gpu=name,memory.total,pcie.link.gen.current,pcie.link.width.current,driver_version --format=csv || true
grep -m1 'model name' /proc/cpuinfo; nproc; free -g | head -2

echo "== building the CLI against onnxruntime_gpu"
mvn -B -q $MVN_ARGS -Pcuda -pl onnx-models package -DskipTests
jar=onnx-models/target/medgemma-cli.jar

if [ ! -f "$model/onnx/model_q4.onnx" ]; then
  echo "== forging the 4B-shape checkpoint and converting it to $model"
  java -cp "$jar:onnx-models/target/test-classes" dev.medgemmafhir.engine.forge.ConversionBenchmarkCheckpoint "$model.checkpoint" 34
  java -jar "$jar" models convert --from "$model.checkpoint" --to "$model" --dtype q4 -q
  rm -rf "$model.checkpoint"
  # The forge's config allows 1,024 positions: allow 8,192, for the 2048-token prompts.
  python3 onnx-models/bench/set-context.py "$model"
fi

run() {  # label, extra args...
  local label="$1"; shift
  echo "== bench $label"
  timeout 240 java -jar "$jar" bench --model "$model" --dtype q4 --prompt-lengths "$LENGTHS" --decode-tokens 32 \
    --runs 3 --warmup 1 --json "$@" | tee "$out/bench-$label.json" | head -c 2000; echo
}
run cuda --provider cuda
# Batched decoding: one decoder run per step for all requests. The cache is batch-sized and
# crosses PCIe every step (no IOBinding), so this shows how far batching carries on a GPU before
# the copies dominate; prompts of 128 tokens keep that part small.
run cuda-batched --provider cuda --prompt-lengths 128 --concurrency 1,2,4,8,16 --runs 1 || true
run cpu --provider cpu --prompt-lengths 128 || true

python3 - "$out/bench-cuda.json" <<'PY' || true
import json, sys
r = json.load(open(sys.argv[1]))
kv = r["kv_cache_bytes_per_context_token"]
ls = sorted(r["lengths"], key=lambda l: l["prompt_tokens"])
for l in ls:
    print(f'{l["prompt_tokens"]:>6} tokens: prefill {l["prefill_tokens_per_s"]:.0f} tok/s, ttft {l["time_to_first_token_ms"]:.0f} ms, '
          f'decode {l["decode_tokens_per_s"]:.1f} tok/s ({1000 / l["decode_tokens_per_s"]:.1f} ms/token)')
a, b = ls[0], ls[-1]
dt = (1 / b["decode_tokens_per_s"] - 1 / a["decode_tokens_per_s"])  # s per step more at the longer context
dtok = b["prompt_tokens"] - a["prompt_tokens"]
if dt > 0:
    print(f"step time grows {1e6 * dt / dtok:.1f} us per context token; copying the cache both ways would move "
          f"{2 * kv * dtok / 1e9:.2f} GB more per step: an effective {2 * kv * dtok / dt / 1e9:.1f} GB/s "
          f"(PCIe-bound if near the link's ~25-55 GB/s; on-device attention alone would be ~100x faster)")
PY
python3 - "$out/bench-cuda-batched.json" <<'PY' || true
import json, sys
r = json.load(open(sys.argv[1]))
for l in r["concurrency"]:
    print(f'{l["concurrency"]:>3} requests: decode {l["decode_tokens_per_s"]:.1f} tok/s in all '
          f'({l["decode_tokens_per_s_per_request"]:.1f} each, {l.get("decode_speedup_vs_one", 1):.2f}x one), '
          f'ttft p50 {l["time_to_first_token_ms_median"]:.0f} ms')
PY
echo "== done: $out"
