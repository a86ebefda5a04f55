#!/bin/sh
# Installs llama.cpp for compare-llamacpp.sh and GgufForgeLlamaCppTest (CI runs this): npm
# node-llama-cpp with its prebuilt linux-x64 CPU binaries, at the versions package-lock.json pins.
# --omit=optional leaves out the other platforms' and the CUDA/Vulkan builds (hundreds of MB); the
# CPU build is a direct dependency. `npm install --no-save`, not `npm ci`: the registry mirror this
# was locked against lacks the macOS/Windows builds, so the lock file cannot list them and `npm ci`
# refuses it as out of sync; --no-save keeps package.json and the lock file unchanged. NODE_LLAMA_CPP_SKIP_DOWNLOAD stops the postinstall (which npm 10
# runs; npm 11 skips dependency install scripts by default) from fetching or compiling llama.cpp.
set -eu
cd "$(dirname "$0")"
NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --no-save --no-audit --no-fund --omit=optional
