#!/usr/bin/env bash
# Engine vs transformers.js on the same model directory, dtype and intra-op thread count.
# For each prompt length, ROUNDS rounds; each round runs one fresh engine process and one fresh
# Node process (the order alternates between rounds so neither always gets the warmer machine),
# each doing a short warm-up and one timed run. Prints median prefill and decode tokens/s of both
# and engine / transformers.js ratios.
#
#   onnx-models/bench/compare.sh MODEL_DIR
#   env: LENGTHS="128 512 2048" ROUNDS=3 DECODE=32 THREADS=<physical cores> DTYPE=q4 JAR=onnx-models/target/medgemma-cli.jar
#        ENGINE_ARGS="--q4-accuracy-level -1" (extra engine flags; the engine's default is int8 compute
#        for 4-bit weights, transformers.js runs them as exported)
#        OUT=<file for the raw JSON lines>
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
module="$(dirname "$here")"
model="${1:?usage: compare.sh MODEL_DIR}"
LENGTHS="${LENGTHS:-128 512 2048}"
ROUNDS="${ROUNDS:-3}"
DECODE="${DECODE:-32}"
DTYPE="${DTYPE:-q4}"
JAR="${JAR:-$module/target/medgemma-cli.jar}"
ENGINE_ARGS="${ENGINE_ARGS:-}"
# ONNX Runtime's default intra-op pool is one thread per physical core; pin both sides to it.
THREADS="${THREADS:-$(lscpu -p=CORE,SOCKET 2>/dev/null | grep -v '^#' | sort -u | wc -l)}"
OUT="${OUT:-$(mktemp /tmp/medgemma-compare.XXXXXX.jsonl)}"
js="$module/src/test/js"
[ -f "$JAR" ] || { echo "build the CLI first: mvn -pl onnx-models package -DskipTests" >&2; exit 2; }
[ -d "$js/node_modules" ] || { echo "install the reference first: sh $js/install.sh" >&2; exit 2; }
# A private copy: a rebuild during the comparison must not swap the jar under a running JVM.
cp "$JAR" "$OUT.jar"; JAR="$OUT.jar"; trap 'rm -f "$OUT.jar"' EXIT

engine() {
  java -jar "$JAR" bench --model "$model" --dtype "$DTYPE" --threads "$THREADS" --prompt-lengths "$1" $ENGINE_ARGS \
    --decode-tokens "$DECODE" --runs 1 --warmup 1 --bandwidth-mib 0 --json 2>"$OUT.err" \
  | python3 -c 'import json,sys; r=json.load(sys.stdin); l=r["lengths"][0]; print(json.dumps({"runtime":"engine","prompt_tokens":l["prompt_tokens"],"ttft_ms":l["time_to_first_token_ms"],"decode_tokens_per_s":l["decode_tokens_per_s"],"peak_resident_bytes":r["peak_resident_bytes"]}))'
}

reference() {
  (cd "$js" && node bench.mjs "{\"model_dir\":\"$model\",\"dtype\":\"$DTYPE\",\"threads\":$THREADS,\"prompt_length\":$1,\"decode_tokens\":$DECODE,\"runs\":1,\"warmup\":1}") \
  | python3 -c 'import json,sys; r=json.load(sys.stdin); x=r["runs"][0]; print(json.dumps({"runtime":"transformers.js","prompt_tokens":r["prompt_tokens"],"ttft_ms":x["ttft_ms"],"decode_tokens_per_s":x["decode_tokens_per_s"]}))'
}

echo "# $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), threads $THREADS, load $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT"
for n in $LENGTHS; do
  for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) -eq 1 ]; then order="engine reference"; else order="reference engine"; fi
    for side in $order; do
      line="$($side "$n")"
      echo "$line" | python3 -c "import json,sys; d=json.load(sys.stdin); d['round']=$r; d['load_1m']=float(open('/proc/loadavg').read().split()[0]); print(json.dumps(d))" | tee -a "$OUT"
    done
  done
done

python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith('{')]
print()
print(f"{'prompt':>6} | {'prefill tok/s engine':>20} {'t.js':>8} {'ratio':>6} | {'decode tok/s engine':>19} {'t.js':>8} {'ratio':>6} | load")
for n in sorted({r['prompt_tokens'] for r in rows}):
    def med(rt, f):
        return statistics.median(f(r) for r in rows if r['prompt_tokens'] == n and r['runtime'] == rt)
    pe = med('engine', lambda r: n * 1000 / r['ttft_ms']); pj = med('transformers.js', lambda r: n * 1000 / r['ttft_ms'])
    de = med('engine', lambda r: r['decode_tokens_per_s']); dj = med('transformers.js', lambda r: r['decode_tokens_per_s'])
    load = statistics.median(r['load_1m'] for r in rows if r['prompt_tokens'] == n)
    print(f"{n:>6} | {pe:>20.2f} {pj:>8.2f} {pe/pj:>6.2f} | {de:>19.2f} {dj:>8.2f} {de/dj:>6.2f} | {load:.1f}")
print(f"raw runs: {sys.argv[1]}")
PY
