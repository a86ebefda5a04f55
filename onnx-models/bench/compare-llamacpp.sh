#!/usr/bin/env bash
# Engine vs llama.cpp (npm node-llama-cpp's prebuilt CPU build) on models of the same shape: the
# engine on an ONNX model directory, llama.cpp on one or more GGUF files (the GGUF forge writes
# MedGemma 4B's shape in Q4_0 and Q4_K_M: dev.medgemmafhir.engine.forge.GgufForge). Same thread
# count, same prompt lengths, same timing definitions (prefill tokens/s = prompt tokens / time to
# first token; decode tokens/s over the tokens after the first; end-of-sequence ignored).
# For each prompt length, ROUNDS rounds; each round starts one fresh process per runtime, each doing
# a short warm-up and one timed run, and the order rotates between rounds so that no runtime always
# gets the warmer (or the less loaded) machine. Prints medians, the ratios engine / llama.cpp, the
# engine's bandwidth roofline (bandwidth measured in every engine process, before its model loads)
# and the 1-minute load average seen by each run.
#
#   onnx-models/bench/compare-llamacpp.sh MODEL_DIR GGUF [GGUF...]
#   env: LENGTHS="128 512 2048" ROUNDS=3 DECODE=32 THREADS=<physical cores> DTYPE=q4
#        JAR=onnx-models/target/medgemma-cli.jar ENGINE_ARGS="" (extra engine flags; empty = defaults)
#        BANDWIDTH_MIB=1024 (0 skips the bandwidth measurement) OUT=<file for the raw JSON lines>
#        CONCURRENCY="1 2 4 8 16": instead, batched decoding: per round, the engine's `bench --concurrency`
#          and llama.cpp's parallel sequences of one context (llamacpp.mjs "concurrency"), each level
#          starting N requests at once on LENGTHS' first prompt length; decode tokens/s over the steps
#          that ran all N (DECODE should exceed the largest N comfortably, e.g. 48)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
module="$(dirname "$here")"
model="${1:?usage: compare-llamacpp.sh MODEL_DIR GGUF [GGUF...]}"
shift
[ $# -ge 1 ] || { echo "usage: compare-llamacpp.sh MODEL_DIR GGUF [GGUF...]" >&2; exit 2; }
ggufs=("$@")
LENGTHS="${LENGTHS:-128 512 2048}"
ROUNDS="${ROUNDS:-3}"
DECODE="${DECODE:-32}"
DTYPE="${DTYPE:-q4}"
JAR="${JAR:-$module/target/medgemma-cli.jar}"
ENGINE_ARGS="${ENGINE_ARGS:-}"
BANDWIDTH_MIB="${BANDWIDTH_MIB:-1024}"
# ONNX Runtime's default intra-op pool is one thread per physical core; pin both sides to it.
THREADS="${THREADS:-$(lscpu -p=CORE,SOCKET 2>/dev/null | grep -v '^#' | sort -u | wc -l)}"
OUT="${OUT:-$(mktemp /tmp/medgemma-compare-llamacpp.XXXXXX.jsonl)}"
js="$here/llamacpp"
[ -f "$JAR" ] || { echo "build the CLI first: mvn -pl onnx-models package -DskipTests" >&2; exit 2; }
[ -d "$js/node_modules/node-llama-cpp" ] || { echo "install llama.cpp first: sh $js/install.sh" >&2; exit 2; }
for g in "${ggufs[@]}"; do [ -f "$g" ] || { echo "no such GGUF: $g" >&2; exit 2; }; done
# A private copy: a rebuild during the comparison must not swap the jar under a running JVM.
cp "$JAR" "$OUT.jar"; JAR="$OUT.jar"; trap 'rm -f "$OUT.jar"' EXIT

engine() {  # prompt length
  java -jar "$JAR" bench --model "$model" --dtype "$DTYPE" --threads "$THREADS" --prompt-lengths "$1" $ENGINE_ARGS \
    --decode-tokens "$DECODE" --runs 1 --warmup 1 --bandwidth-mib "$BANDWIDTH_MIB" --json 2>"$OUT.err" \
  | python3 -c '
import json, sys
r = json.load(sys.stdin); l = r["lengths"][0]
print(json.dumps({"runtime": "engine", "prompt_tokens": l["prompt_tokens"], "ttft_ms": l["time_to_first_token_ms"],
    "decode_tokens_per_s": l["decode_tokens_per_s"], "roofline_decode_tokens_per_s": l.get("roofline_decode_tokens_per_s"),
    "bandwidth_gb_s": r["machine"]["memory_bandwidth_bytes_per_s"] / 1e9, "weight_bytes_per_token": r["weight_bytes_per_token"],
    "peak_resident_bytes": r["peak_resident_bytes"], "cpu_flags": r["machine"].get("cpu_flags"),
    "onnxruntime_version": r.get("onnxruntime_version")}))'
}

llamacpp() {  # gguf, prompt length
  (cd "$js" && node llamacpp.mjs "{\"mode\":\"bench\",\"model\":\"$1\",\"threads\":$THREADS,\"prompt_length\":$2,\"decode_tokens\":$DECODE,\"runs\":1,\"warmup\":1}") \
  | python3 -c '
import json, sys
r = json.load(sys.stdin); x = r["runs"][0]
names = {2: "Q4_0", 15: "Q4_K_M"}
print(json.dumps({"runtime": "llama.cpp " + names.get(r["file_type"], str(r["file_type"])), "prompt_tokens": r["prompt_tokens"],
    "ttft_ms": x["ttft_ms"], "decode_tokens_per_s": x["decode_tokens_per_s"], "model_size_bytes": r["model_size_bytes"],
    "flash_attention": r["flash_attention"], "batch_size": r["batch_size"], "threads": r["threads"],
    "node_llama_cpp_version": r["node_llama_cpp_version"]}))'
}

CONCURRENCY="${CONCURRENCY:-}"
engine_batched() {  # prompt length
  java -jar "$JAR" bench --model "$model" --dtype "$DTYPE" --threads "$THREADS" --prompt-lengths "$1" $ENGINE_ARGS \
    --decode-tokens "$DECODE" --runs 1 --warmup 0 --bandwidth-mib 0 --concurrency "${CONCURRENCY// /,}" --json 2>"$OUT.err" \
  | python3 -c '
import json, sys
r = json.load(sys.stdin)
for l in r["concurrency"]:
    print(json.dumps({"runtime": "engine", "prompt_tokens": l["prompt_tokens"], "concurrency": l["concurrency"],
        "decode_tokens_per_s": l["decode_tokens_per_s"], "end_to_end_tokens_per_s": l["end_to_end_tokens_per_s"],
        "ttft_ms_p50": l["time_to_first_token_ms_median"]}))'
}
llamacpp_batched() {  # gguf, prompt length
  (cd "$js" && node llamacpp.mjs "{\"mode\":\"concurrency\",\"model\":\"$1\",\"threads\":$THREADS,\"prompt_length\":$2,\"decode_tokens\":$DECODE,\"levels\":[${CONCURRENCY// /,}]}") \
  | python3 -c '
import json, sys
r = json.load(sys.stdin)
names = {2: "Q4_0", 15: "Q4_K_M"}
for l in r["levels"]:
    print(json.dumps({"runtime": "llama.cpp " + names.get(r["file_type"], str(r["file_type"])), "prompt_tokens": l["prompt_tokens"],
        "concurrency": l["concurrency"], "decode_tokens_per_s": l["decode_tokens_per_s"],
        "end_to_end_tokens_per_s": l["end_to_end_tokens_per_s"], "ttft_ms_p50": l["ttft_ms_p50"]}))'
}

sides=(engine)
for i in "${!ggufs[@]}"; do sides+=("gguf:$i"); done
echo "# $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), threads $THREADS, load $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT"
measure() {  # side (engine or gguf:INDEX), prompt length: one JSON line per result
  local mode="${CONCURRENCY:+_batched}"
  if [ "$1" = engine ]; then "engine$mode" "$2"; else "llamacpp$mode" "${ggufs[${1#gguf:}]}" "$2"; fi
}
[ -z "$CONCURRENCY" ] || LENGTHS="${LENGTHS%% *}"
for n in $LENGTHS; do
  for r in $(seq 1 "$ROUNDS"); do
    k=$(( (r - 1) % ${#sides[@]} ))
    order=("${sides[@]:$k}" "${sides[@]:0:$k}")
    for side in "${order[@]}"; do
      load_before=$(cut -d' ' -f1 /proc/loadavg)
      lines="$(measure "$side" "$n")"
      echo "$lines" | python3 -c "
import json, sys
after = float(open('/proc/loadavg').read().split()[0])
for l in sys.stdin:
    d = json.loads(l); d['round'] = $r; d['load_1m_before'] = $load_before; d['load_1m_after'] = after; print(json.dumps(d))" | tee -a "$OUT"
    done
  done
done

if [ -n "$CONCURRENCY" ]; then
  python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith('{')]
runtimes = list(dict.fromkeys(x['runtime'] for x in rows))
print()
print("decode tokens/s over the steps that ran all N (median of rounds), and vs N=1 of the same runtime:")
print("%4s " % "N" + " ".join("%26s" % rt for rt in runtimes) + "   engine/" + runtimes[-1])
med = lambda rt, n: statistics.median([r['decode_tokens_per_s'] for r in rows if r['runtime'] == rt and r['concurrency'] == n
                                      and r['decode_tokens_per_s'] is not None] or [float('nan')])
for n in sorted({r['concurrency'] for r in rows}):
    cells = ["%14.2f (%5.2fx)" % (med(rt, n), med(rt, n) / med(rt, 1)) for rt in runtimes]
    print("%4d " % n + " ".join("%26s" % c for c in cells) + "   %5.2f" % (med('engine', n) / med(runtimes[-1], n)))
print(f"raw runs: {sys.argv[1]}")
PY
  exit 0
fi

python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith('{')]
runtimes = [r for r in dict.fromkeys(x['runtime'] for x in rows) if r != 'engine']
print()
for n in sorted({r['prompt_tokens'] for r in rows}):
    def med(rt, f):
        v = [f(r) for r in rows if r['prompt_tokens'] == n and r['runtime'] == rt and f(r) is not None]
        return statistics.median(v) if v else float('nan')
    pe = med('engine', lambda r: n * 1000 / r['ttft_ms']); de = med('engine', lambda r: r['decode_tokens_per_s'])
    roof = med('engine', lambda r: r.get('roofline_decode_tokens_per_s'))
    bw = med('engine', lambda r: r.get('bandwidth_gb_s'))
    loads = [r[k] for r in rows if r['prompt_tokens'] == n for k in ('load_1m_before', 'load_1m_after')]
    print(f"prompt {n}: engine prefill {pe:.2f} tok/s, decode {de:.2f} tok/s "
          f"(roofline {roof:.2f} tok/s at {bw:.1f} GB/s: {100 * de / roof:.0f}%); load {min(loads):.1f}-{max(loads):.1f}")
    for rt in runtimes:
        pl = med(rt, lambda r: n * 1000 / r['ttft_ms']); dl = med(rt, lambda r: r['decode_tokens_per_s'])
        print(f"    {rt:<16} prefill {pl:8.2f} tok/s  engine/llama.cpp {pe / pl:5.2f} | decode {dl:6.2f} tok/s  engine/llama.cpp {de / dl:5.2f}")
print(f"raw runs: {sys.argv[1]}")
PY
