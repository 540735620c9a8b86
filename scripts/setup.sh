#!/usr/bin/env bash
# Installs what escnn_soft needs on a fresh Debian/Ubuntu machine: gfortran (py3nj, pulled in by
# escnn, compiles Fortran), lie-learn built from its source where the package index has no wheel for
# this Python or LIE_LEARN_SOURCE names a source (scripts/lie_learn.sh; it builds for numpy 1 and 2),
# then the package itself with its test extra. Safe to run again.
#   PYTHON=python3.13 LIE_LEARN_SOURCE=path/to/lie_learn bash scripts/setup.sh
set -euo pipefail
source "$(dirname "$0")/lie_learn.sh"
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

if ! "$PYTHON" -c "import py3nj" >/dev/null 2>&1 && ! command -v gfortran >/dev/null 2>&1; then
  echo "installing gfortran (needed to build py3nj for escnn)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq gfortran >/dev/null
fi

why=""
if lie_learn_works "$PYTHON"; then :
elif [[ -n "${LIE_LEARN_SOURCE:-}" ]]; then why="LIE_LEARN_SOURCE names it"
elif ! lie_learn_has_wheel "$PYTHON"; then why="the package index has no lie-learn wheel for this Python"
fi
if [[ -n "$why" ]]; then
  built="$(mktemp -d)"
  lie_learn_wheel "$PYTHON" "$built" "$why" "bash scripts/setup.sh"
  # no deps here: the package's install below brings them; forced: it replaces a lie-learn that does not work
  "$PYTHON" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$built"/lie_learn-*.whl
  rm -rf "$built"
fi

"$PYTHON" -m pip install -q --disable-pip-version-check -e ".[test]"
