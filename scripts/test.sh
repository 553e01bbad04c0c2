#!/usr/bin/env bash
# Installs what is missing and runs the whole test suite. Tests that need the real CIFAR-10
# images run when ../shared/data/cifar10-jpeg exists next to this checkout and say so when skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-dependencies.sh
swift build --build-tests
swift test --skip-build "$@"
