#!/bin/sh
# Installs the transformers.js reference used by TransformersJsReferenceTest (CI runs this).
# npm ci installs exactly package-lock.json. onnxruntime-node's CPU binaries ship inside its npm
# package; --onnxruntime-node-install=skip stops its postinstall from fetching GPU builds (npm 11
# warns that it does not know the flag and skips dependency install scripts by default anyway;
# npm 10 passes it to the postinstall, which then exits early).
set -eu
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --onnxruntime-node-install=skip
