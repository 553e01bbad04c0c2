#!/usr/bin/env bash
# Installs what is missing, builds GradScope in release mode and runs the default experiment
# (VGG19, Adam 1e-4, batch 32, the four probes of the original study) on the built-in synthetic images.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-dependencies.sh
swift build -c release
.build/release/gradscope train --out runs/quickstart-$(date +%Y%m%d-%H%M%S) "$@"
