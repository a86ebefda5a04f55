#!/bin/sh
# Installs axe-core for the clinician review app's browser tests (CI runs this).
set -eu
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
