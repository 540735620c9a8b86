#!/usr/bin/env bash
# One `escnn-soft compare` under a wall-clock limit, for a machine lent for a fixed time: it installs
# the wheels of scripts/wheels.sh first when given them (a machine with no package index), runs the
# comparison until it ends or SECONDS pass, then stops every run of it at once (each keeps the
# checkpoint of its last finished epoch), and packs the comparison's --out folder, finished runs,
# checkpoints and reports, into ARCHIVE (.tar.gz). Unpack the archive over the same folder and run
# the same comparison again, here or there, to continue it.
#   bash scripts/batch.sh [--wheels DIR] SECONDS ARCHIVE -- COMPARE-OPTIONS...   (they must name --out)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
usage="usage: bash scripts/batch.sh [--wheels DIR] SECONDS ARCHIVE -- COMPARE-OPTIONS... (with --out)"
wheels=""
safe=()
if [[ "${1:-}" == --wheels ]]; then wheels="${2:?$usage}"; shift 2; fi
limit="${1:?$usage}"; archive="${2:?$usage}"
[[ "${3:-}" == -- ]] || { echo "$usage" >&2; exit 2; }
shift 3
[[ "$limit" =~ ^[1-9][0-9]*$ ]] || { echo "SECONDS must be a positive whole number, got '$limit'" >&2; exit 2; }
out=""
for ((i = 1; i <= $#; i++)); do
  case "${!i}" in
    --out) j=$((i + 1)); out="${!j:-}" ;;
    --out=*) out="${!i#--out=}" ;;
  esac
done
[[ -n "$out" ]] || { echo "the compare options must name --out: it is the folder that is packed" >&2; exit 2; }

if [[ -n "$wheels" ]]; then
  compgen -G "$wheels/*.whl" >/dev/null || { echo "no wheels in $wheels: make them with bash scripts/wheels.sh $wheels" >&2; exit 2; }
  site="$(mktemp -d)"
  "$PY" -m pip install -q --disable-pip-version-check --no-index --no-deps --no-compile --target "$site" "$wheels"/*.whl
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
  safe=(-P)  # the installed escnn_soft, which knows its commit, not the folder's copy
fi

# its own process group, so that the limit stops the comparison and every process of --jobs at once
setsid "$PY" "${safe[@]}" -m escnn_soft.experiments.cli compare "$@" &
pid=$!
end=$((SECONDS + limit))
while kill -0 "$pid" 2>/dev/null && ((SECONDS < end)); do sleep 1; done
stopped=0
if kill -0 "$pid" 2>/dev/null; then
  stopped=1
  kill -TERM -- "-$pid" 2>/dev/null || true
fi
rc=0
wait "$pid" || rc=$?

mkdir -p "$out" "$(dirname "$archive")"
tar -czf "$archive" -C "$out" .
finished=$(find "$out" -name result.json | wc -l)
unfinished=$(find "$out" -name checkpoint.pt | wc -l)
echo "packed $out into $archive: $finished finished run(s), $unfinished with a checkpoint to continue"
if ((stopped)); then
  echo "stopped after $limit s; unpack the archive over $out and run the same comparison again to continue"
  exit 0
fi
exit "$rc"
