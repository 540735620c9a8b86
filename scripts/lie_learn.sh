# lie-learn, which escnn imports, built from its upstream repository; sourced by scripts/setup.sh and
# scripts/wheels.sh (source it before they change folder: it resolves a relative LIE_LEARN_SOURCE).
# The package index has lie-learn 0.0.2 wheels for Python 3.9-3.12 only, built for numpy < 2. The
# upstream commit below, the merge of "Support numpy>2.0", builds for any of these Pythons and for
# numpy 1 and 2 (a C compiler and git are all it needs; pip's isolated build brings Cython). Build it
# from a git clone: its setuptools-scm build takes the package's files from git, and without git it
# leaves out the J matrices (43 MB of .npy) that escnn's SO(3) representations need.
#   LIE_LEARN_SOURCE   a clone or URL of the repository (default: the upstream one on github.com)

LIE_LEARN_UPSTREAM="https://github.com/AMLab-Amsterdam/lie_learn"
LIE_LEARN_COMMIT="e7060c097514228e0df8b5bd99a3f4d493756e92"  # Merge pull request #30: Support numpy>2.0
if [[ -n "${LIE_LEARN_SOURCE:-}" && -d "$LIE_LEARN_SOURCE" ]]; then
  LIE_LEARN_SOURCE="$(cd "$LIE_LEARN_SOURCE" && pwd)"
fi

# lie_learn_works PYTHON: whether PYTHON imports the part of lie-learn that escnn imports
lie_learn_works() {
  "$1" -c "from lie_learn.representations.SO3.wigner_d import wigner_D_matrix" >/dev/null 2>&1
}

# lie_learn_has_wheel PYTHON: whether the package index has a lie-learn wheel for PYTHON
lie_learn_has_wheel() {
  local tmp rc=0
  tmp="$(mktemp -d)"
  "$1" -m pip download -q --disable-pip-version-check --only-binary=:all: --no-deps -d "$tmp" lie-learn \
    >/dev/null 2>&1 || rc=$?
  rm -rf "$tmp"
  return "$rc"
}

# lie_learn_wheel PYTHON DIR WHY RERUN: builds the lie-learn wheel of LIE_LEARN_COMMIT for PYTHON into
# DIR; where the source cannot be cloned, one line says WHY it is needed and to RERUN the caller with it
lie_learn_wheel() {
  local py="$1" dir="$2" why="$3" rerun="$4" source="${LIE_LEARN_SOURCE:-$LIE_LEARN_UPSTREAM}" version src wheel
  version="$("$py" -c 'import sys; print("Python %d.%d" % sys.version_info[:2])')"
  command -v git >/dev/null || { echo "building lie-learn for $version needs git: apt-get install git" >&2; return 1; }
  src="$(mktemp -d)"
  if ! GIT_TERMINAL_PROMPT=0 git clone -q --no-checkout "$source" "$src/lie_learn" >/dev/null 2>&1 \
      || ! git -C "$src/lie_learn" checkout -q "$LIE_LEARN_COMMIT" >/dev/null 2>&1; then
    rm -rf "$src"
    echo "lie-learn must be built from its source ($why), but commit ${LIE_LEARN_COMMIT:0:7} cannot be cloned from $source: where github.com is reachable run 'git clone $LIE_LEARN_UPSTREAM', bring the clone here, then run 'LIE_LEARN_SOURCE=path/to/lie_learn $rerun'" >&2
    return 1
  fi
  echo "building lie-learn (commit ${LIE_LEARN_COMMIT:0:7} of $source) for $version, about a minute"
  mkdir -p "$dir"
  if ! "$py" -m pip wheel -q --disable-pip-version-check --no-deps -w "$src/wheel" "$src/lie_learn"; then
    rm -rf "$src"
    echo "lie-learn did not build for $version: it needs a C compiler (apt-get install build-essential)" >&2
    return 1
  fi
  wheel="$(ls "$src"/wheel/lie_learn-*.whl)"
  if ! "$py" -c "import sys, zipfile; names = zipfile.ZipFile(sys.argv[1]).namelist()
sys.exit(not any(n.endswith('J_dense_0-150.npy') for n in names))" "$wheel"; then
    rm -rf "$src"
    echo "the lie-learn built from $source lacks its J matrices (J_dense_0-150.npy): build it from a git clone that holds them, not an export" >&2
    return 1
  fi
  mv "$wheel" "$dir/"
  rm -rf "$src"
}
