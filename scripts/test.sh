#!/usr/bin/env bash
# The test command: set-up, then the fast test suite (long experiments are marked `slow`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${PYTHON:-python3}" -m pytest -q "$@"
