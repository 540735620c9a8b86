#!/usr/bin/env bash
# Installs what escnn_soft needs on a fresh Debian/Ubuntu machine: gfortran (py3nj, pulled in by
# escnn, compiles Fortran), then the package itself with its test extra. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

if ! "$PYTHON" -c "import py3nj" >/dev/null 2>&1 && ! command -v gfortran >/dev/null 2>&1; then
  echo "installing gfortran (needed to build py3nj for escnn)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq gfortran >/dev/null
fi

"$PYTHON" -m pip install -q --disable-pip-version-check -e ".[test]"
