#!/usr/bin/env bash
# Builds a self-contained bundle for running onnx-models/bench/gpu/run.sh on a GPU machine that
# has no network, no JDK and no Node (only CUDA 13 user-space libraries and Python), and that
# accepts little data per transfer: a java.base-only JRE and the GGUF forge (to forge the 4B-shape
# GGUF there instead of carrying 2.3 GB), llama.cpp's prebuilt CUDA build from npm
# (@node-llama-cpp/linux-x64-cuda, the same llama.cpp release the CPU comparison uses) with its
# fat binaries pruned to one GPU architecture, and llama.cpp's own llama-bench and
# llama-batched-bench compiled here against those libraries from the source node-llama-cpp ships.
#
#   onnx-models/bench/gpu/bundle.sh OUT.tar.xz [ARCH]    (ARCH: 90 for H100/H200, the default)
#
# Needs: a built onnx-models module (mvn -pl onnx-models package -DskipTests), llama.cpp installed
# for the CPU comparison (sh onnx-models/bench/llamacpp/install.sh), npm, g++, git, jlink, xz.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
module="$(cd "$here/../.." && pwd)"
out="$(realpath -m "${1:?usage: bundle.sh OUT.tar.xz [ARCH]}")"
arch="${2:-90}"
nlc="$here/../llamacpp/node_modules/node-llama-cpp"
[ -d "$nlc" ] || { echo "install llama.cpp first: sh $here/../llamacpp/install.sh" >&2; exit 2; }
version="$(node -p "require('$nlc/package.json').version")"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
b="$work/bundle"; mkdir -p "$b/forge" "$b/llama"

jlink --add-modules java.base --strip-debug --no-man-pages --no-header-files --output "$b/jre"
cp "$module"/target/onnx-models-*-SNAPSHOT.jar "$module"/target/onnx-models-*-SNAPSHOT-tests.jar "$b/forge/"

(cd "$work" && npm pack -q "@node-llama-cpp/linux-x64-cuda@$version" >/dev/null && tar xzf node-llama-cpp-linux-x64-cuda-*.tgz)
bins="$work/package/bins/linux-x64-cuda"
cp "$bins"/*.so "$b/llama/"
python3 "$here/prune_fatbin.py" "$b/llama/libggml-cuda.so" "$arch"

git -c advice.detachedHead=false clone -q "$nlc/llama/gitRelease.bundle" "$work/src"
for t in llama-bench batched-bench; do
  g++ -O2 -DNDEBUG -std=c++17 -I "$work/src/include" -I "$work/src/ggml/include" -I "$work/src/common" \
    -I "$work/src/vendor" -I "$work/src/tools/$t" "$work/src/tools/$t"/*.cpp -L "$bins" \
    -l:libllama-common.so -l:libllama.cuda.v0.5.0.so -l:libggml.cuda.v0.5.0.so -l:libggml-base.so \
    -Wl,-rpath,'$ORIGIN' -o "$b/llama/llama-${t#llama-}"
done
echo "node-llama-cpp $version, llama.cpp $(cat "$nlc/llama/llama.cpp.info.json" | tr -d ' \n'), sm_$arch" > "$b/llama/VERSION"
tar cf - -C "$work" bundle | xz -9e -T2 > "$out"
echo "$out: $(du -h "$out" | cut -f1)"
