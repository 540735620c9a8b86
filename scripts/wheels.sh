#!/usr/bin/env bash
# Wheels for a machine with no package index that already has Python, PyTorch and the scientific
# stack (SciPy, Matplotlib, tqdm, joblib, requests): escnn_soft itself, its commit baked in, and
# what it needs beyond that stack (escnn, lie-learn, pymanopt, autograd, mlxtend, numpy < 2, and
# escnn's py3nj, which has no wheel and is compiled here with gfortran). Run it where pip reaches an
# index, with an interpreter of the target machine's Python version (wheels are per version); then
# `bash scripts/batch.sh --wheels DIR ...` installs them there.
#   bash scripts/wheels.sh DIR [PYTHON]      (PYTHON: default python3)
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:?usage: bash scripts/wheels.sh DIR [PYTHON]}"
PY="${2:-python3}"
command -v gfortran >/dev/null || { echo "py3nj needs gfortran: run bash scripts/setup.sh (or apt-get install gfortran)" >&2; exit 1; }
mkdir -p "$dir"
"$PY" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: -d "$dir" \
  "numpy>=1.23,<2" "escnn>=1.0.11" lie-learn pymanopt autograd "mlxtend>=0.23"
"$PY" -m pip wheel -q --disable-pip-version-check --no-deps -w "$dir" py3nj .
echo "$(ls "$dir"/*.whl | wc -l) wheels for $("$PY" -c 'import sys; print("Python %d.%d" % sys.version_info[:2])') in $dir ($(du -sh "$dir" | cut -f1))"
