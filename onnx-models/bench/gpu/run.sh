#!/usr/bin/env bash
# Issue 13 item 5: llama.cpp on CUDA (single stream and batched) and, beside it, llama.cpp and the
# engine on the same machine's CPUs, from bundles made by bundle.sh (llama) and engine-bundle.sh
# (engine), on a GPU machine with no network. Each part is one command; results go to OUT_DIR.
#
#   onnx-models/bench/gpu/run.sh llama  LLAMA_BUNDLE.tar.xz  OUT_DIR
#   onnx-models/bench/gpu/run.sh engine ENGINE_BUNDLE.tar.xz OUT_DIR
#
# env: WORK=/tmp/medgemma-gpu (scratch), PROFILE=1 (engine: ONNX Runtime's per-operator profile
# at 512 tokens instead of the benchmarks), SHAPE=tiny / LAYERS=2 (a quick trial of the script).
#
# The engine's own CUDA run needs ONNX Runtime's CUDA provider, which the published onnxruntime_gpu
# jars build against CUDA 12 (libcublasLt.so.12, libcudart.so.12, cuDNN 9): `llama` reports whether
# the machine has those libraries; where it has them, `mvn -Pcuda -pl onnx-models package` and
# `bench --provider cuda` run it as on the CPU.
set -uo pipefail
mode="${1:?usage: run.sh llama|engine BUNDLE OUT_DIR}"; bundle="$2"; out="$3"
mkdir -p "$out"
exec > >(tee -a "$out/$mode.log") 2>&1
w="${WORK:-/tmp/medgemma-gpu}"; mkdir -p "$w"
python3 -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" "$bundle" "$w"
b="$w/bundle"
cores="$(lscpu -p=CORE,SOCKET 2>/dev/null | grep -v '^#' | sort -u | wc -l)"; [ "$cores" -gt 0 ] || cores="$(nproc)"
step() { echo "== $(date -u +%T) $*"; }

step "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem --format=csv 2>&1
grep -m1 'model name' /proc/cpuinfo; echo "logical CPUs $(nproc), physical cores $cores"
grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|avx512f|avx512_vnni|avx_vnni|amx_int8|amx_bf16)$' | tr '\n' ' '; echo
free -g | head -2

if [ "$mode" = llama ]; then
  cat "$b/llama/VERSION"
  # llama.cpp's CUDA build needs CUDA 13's runtime and cuBLAS (on such images, often only in Python's
  # packages); the engine's CUDA provider (onnxruntime_gpu) would need CUDA 12's and cuDNN 9.
  find / \( -path /proc -o -path /sys -o -path /dev -o -path "$w" \) -prune -o \( -name 'libcudart.so.1[23]' \
    -o -name 'libcublas.so.1[23]' -o -name 'libcublasLt.so.1[23]' -o -name 'libcurand.so.10' -o -name 'libcufft.so.1[12]' \
    -o -name 'libcudnn.so.9' \) -print 2>/dev/null | sort > "$w/cuda-libs"
  step "CUDA libraries found"; cat "$w/cuda-libs"
  for l in libcudart.so.12 libcublas.so.12 libcublasLt.so.12 libcudnn.so.9; do
    grep -q "/$l\$" "$w/cuda-libs" || echo "the engine's CUDA provider (onnxruntime_gpu, CUDA 12): $l missing"
  done
  libs="$(grep -E '/(libcudart|libcublas|libcublasLt)\.so\.13$' "$w/cuda-libs" | xargs -r -n1 dirname | sort -u | paste -sd:)"
  export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export CUDA_CACHE_PATH="$w/cuda-cache" CUDA_CACHE_MAXSIZE=4294967296   # the PTX compiled once, for every run
  gguf="$w/4b-q4_0.gguf"
  step "forging the 4B-shape Q4_0 GGUF"
  "$b/jre/bin/java" -cp "$b/forge/*" dev.medgemmafhir.engine.forge.GgufForge "$gguf" q4_0 "${SHAPE:-4b}" 1024
  lb="$b/llama/llama-bench"; bb="$b/llama/llama-batched-bench"
  step "llama.cpp CUDA: prefill (first run compiles the PTX)"
  timeout 280 "$lb" -m "$gguf" -ngl 99 -p 128,512,2048 -n 0 -r 3 -o jsonl > "$out/llama-cuda-prefill.jsonl"; echo "rc $?"
  step "llama.cpp CUDA: decode 64 tokens after 128 / 512 / 2048 tokens of context"
  timeout 100 "$lb" -m "$gguf" -ngl 99 -p 0 -n 64 -d 128,512,2048 -r 3 -o jsonl > "$out/llama-cuda-decode.jsonl"; echo "rc $?"
  step "llama.cpp CUDA: batched decoding, 128-token prompts, 1..32 sequences"
  timeout 120 "$bb" -m "$gguf" -ngl 99 -c 8192 -npp 128 -ntg 64 -npl 1,2,4,8,16,32 --output-format jsonl > "$out/llama-cuda-batched.jsonl"; echo "rc $?"
  step "llama.cpp CUDA: batched decoding, 2048-token prompts, 1 / 4 / 16 sequences"
  timeout 120 "$bb" -m "$gguf" -ngl 99 -c 34000 -npp 2048 -ntg 32 -npl 1,4,16 --output-format jsonl > "$out/llama-cuda-batched-2048.jsonl"; echo "rc $?"
  step "llama.cpp CPU ($cores threads, no GPU visible)"
  CUDA_VISIBLE_DEVICES= timeout 120 "$lb" -m "$gguf" -ngl 0 -t "$cores" -p 128,512 -n 32 -r 2 -o jsonl > "$out/llama-cpu.jsonl"; echo "rc $?"
  step "llama.cpp CPU batched ($cores threads), 128-token prompts"
  CUDA_VISIBLE_DEVICES= timeout 120 "$bb" -m "$gguf" -ngl 0 -t "$cores" -c 4096 -npp 128 -ntg 32 -npl 1,4,8,16 --output-format jsonl > "$out/llama-cpu-batched.jsonl"; echo "rc $?"
  python3 - "$out" <<'PY'
import glob, json, os, sys
for f in sorted(glob.glob(os.path.join(sys.argv[1], 'llama-*.jsonl'))):
    print('--', os.path.basename(f))
    for line in open(f):
        if not line.startswith('{'):
            continue
        r = json.loads(line)
        if 'avg_ts' in r:
            print(f"  {r.get('backends')} fa={r.get('flash_attn')} t={r.get('n_threads')} pp={r['n_prompt']} tg={r['n_gen']} depth={r.get('n_depth', 0)}: {r['avg_ts']:.1f} ± {r['stddev_ts']:.1f} tokens/s")
        else:
            print(f"  pp={r['pp']} tg={r['tg']} sequences={r['pl']}: prefill {r['speed_pp']:.1f}, decode {r['speed_tg']:.1f} tokens/s in all")
PY
else
  m="$w/model"; ck="$w/checkpoint"; java="$b/jre/bin/java"
  if [ ! -d "$m/onnx" ]; then   # a warm machine keeps the last call's model
    step "forging the 4B-shape checkpoint and converting it (models convert, q4)"
    "$java" -cp "$b/cli.jar:$b/tests.jar" dev.medgemmafhir.engine.forge.ConversionBenchmarkCheckpoint "$ck" "${LAYERS:-34}" | tail -1
    "$java" -jar "$b/cli.jar" models convert --from "$ck" --to "$m" --dtype q4 -q; echo "rc $?"
    rm -rf "$ck"
  fi
  python3 "$(dirname "$0")/../set-context.py" "$m"
  bench() {  # threads, bench options...
    local t="$1"; shift
    timeout 240 "$java" -jar "$b/cli.jar" bench --model "$m" --dtype q4 --threads "$t" "$@" --json; echo "rc $?" >&2
  }
  if [ -n "${PROFILE:-}" ]; then
    step "engine CPU: where the time goes at 512 tokens ($cores and $((cores / 2)) threads)"
    for t in "$cores" $((cores / 2)); do
      rm -f "$w"/prof_*.json
      bench "$t" --prompt-lengths 512 --decode-tokens 24 --runs 1 --warmup 1 --bandwidth-mib 0 \
        --profile "$w/prof" > "$out/engine-profile-$t.json"
      python3 "$(dirname "$0")/../profile_summary.py" "$w"/prof_*.json
    done
  else
    step "engine CPU ($cores threads): single stream"
    bench "$cores" --prompt-lengths 128,512,2048 --decode-tokens 64 --runs 1 --warmup 1 > "$out/engine-cpu.json"
    step "engine CPU ($cores threads): batched, 128-token prompts"
    bench "$cores" --prompt-lengths 128 --decode-tokens 32 --concurrency 1,4,8,16 --max-batch 16 --runs 1 > "$out/engine-cpu-batched.json"
    python3 - "$out" <<'PY'
import json, os, sys
r = json.load(open(os.path.join(sys.argv[1], 'engine-cpu.json')))
print('bandwidth', r['machine']['memory_bandwidth_bytes_per_s'] / 1e9, 'GB/s')
for l in r['lengths']:
    print(f"  {l['prompt_tokens']} tokens: prefill {l['prefill_tokens_per_s']:.1f}, decode {l['decode_tokens_per_s']:.2f} tokens/s (roofline {l.get('roofline_decode_tokens_per_s')})")
r = json.load(open(os.path.join(sys.argv[1], 'engine-cpu-batched.json')))
for l in r['concurrency']:
    print(f"  {l['concurrency']} requests: decode {l['decode_tokens_per_s']:.1f} tokens/s in all")
PY
  fi
fi
step "done"
