#!/usr/bin/env bash
# The test command: set-up, then the fast test suite (pytest.ini deselects the tests marked `slow`;
# `bash scripts/test.sh -m slow` runs those alone).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${PYTHON:-python3}" -m pytest -q "$@"
