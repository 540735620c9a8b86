#!/usr/bin/env bash
# Wheels for a machine with no package index that already has Python, PyTorch and the scientific
# stack (NumPy 1 or 2, SciPy, Matplotlib, tqdm, joblib, requests): escnn_soft itself, its commit baked
# in, and what it needs beyond that stack (escnn, pymanopt, autograd, mlxtend, escnn's py3nj, which
# has no wheel and is compiled here with gfortran, and lie-learn, built from its source for either
# numpy as scripts/lie_learn.sh says, LIE_LEARN_SOURCE included). Run it where pip reaches an index,
# with an interpreter of the target machine's Python version (wheels are per version); then
# `bash scripts/batch.sh --wheels DIR ...` installs them there.
#   bash scripts/wheels.sh DIR [PYTHON]      (PYTHON: default python3)
set -euo pipefail
source "$(dirname "$0")/lie_learn.sh"
cd "$(dirname "$0")/.."
dir="${1:?usage: bash scripts/wheels.sh DIR [PYTHON]}"
PY="${2:-python3}"
command -v gfortran >/dev/null || { echo "py3nj needs gfortran: run bash scripts/setup.sh (or apt-get install gfortran)" >&2; exit 1; }
lie_learn_wheel "$PY" "$dir" "the wheels run with the numpy of the target machine, 1 or 2" "bash scripts/wheels.sh $*"
# mlxtend < 0.24: from 0.24 on it needs scikit-learn >= 1.8, and escnn_soft needs scikit-learn < 1.6
"$PY" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: -d "$dir" \
  "escnn>=1.0.11" pymanopt autograd "mlxtend>=0.23,<0.24"
"$PY" -m pip wheel -q --disable-pip-version-check --no-deps -w "$dir" py3nj .
echo "$(ls "$dir"/*.whl | wc -l) wheels for $("$PY" -c 'import sys; print("Python %d.%d" % sys.version_info[:2])') in $dir ($(du -sh "$dir" | cut -f1))"
