#!/usr/bin/env bash
# Builds the engine's bundle for run.sh's `engine` part on a machine with no network and no JDK: a
# JRE of the modules the CLI uses, the CLI jar without the other platforms' native libraries, and
# the test classes (the checkpoint forge). The model is forged and converted there.
#
#   onnx-models/bench/gpu/engine-bundle.sh OUT.tar.xz
#
# Needs: mvn -pl onnx-models package -DskipTests, jlink, zip, xz.
set -euo pipefail
module="$(cd "$(dirname "$0")/../.." && pwd)"
out="$(realpath -m "${1:?usage: engine-bundle.sh OUT.tar.xz}")"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
b="$work/bundle"; mkdir -p "$b"
cli="$module/target/medgemma-cli.jar"
jlink --add-modules "$(jdeps --print-module-deps --ignore-missing-deps "$cli")" \
  --strip-debug --no-man-pages --no-header-files --output "$b/jre"
cp "$cli" "$b/cli.jar"
# Native libraries only (never a class whose name merely contains a platform's letters).
unzip -Z1 "$b/cli.jar" | grep -E '\.(so|dylib|dll|jnilib|a|yml|plist)$' | grep -v -E '/(linux-x64|linux-x86_64|linux-x86-64)/' \
  > "$work/other-platforms" || true
[ -s "$work/other-platforms" ] && zip -q -d "$b/cli.jar" $(cat "$work/other-platforms")
cp "$module"/target/onnx-models-*-SNAPSHOT-tests.jar "$b/tests.jar"
tar cf - -C "$work" bundle | xz -9e -T2 > "$out"
echo "$out: $(du -h "$out" | cut -f1)"
