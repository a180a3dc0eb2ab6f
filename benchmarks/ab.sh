#!/usr/bin/env bash
# Same-sitting A/B of the three issue-15 commands: the code at REV against the working tree,
# alternating, on the generated pair (benchmarks/generate.py; git-ignored).
#
#   benchmarks/ab.sh REV [ROUNDS=2] [ROWS=5000000]
#
# Prints, per round and side: the bare scan of live, `triage --reference`, `triage --baseline`
# and `baseline create` (wall s, CPU user+system s, peak KB). The host's speed moves between
# sittings by more than most changes: compare the two sides of one run, not runs of two days.
set -euo pipefail
REV=${1:?usage: benchmarks/ab.sh REV [ROUNDS] [ROWS]}
ROUNDS=${2:-2}
ROWS=${3:-5000000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=$ROOT/.venv/bin/python
D=$ROOT/benchmarks/data/n${ROWS}_c40
[ -f "$D/live.parquet" ] || { echo "$D: no data; run benchmarks/generate.py" >&2; exit 2; }
OLD=$(mktemp -d)
OUT=$(mktemp -d)
trap 'rm -rf "$OLD" "$OUT"' EXIT
git -C "$ROOT" archive "$REV" mlfail | tar -x -C "$OLD"
SEGS=()
for s in geo channel device tier region os version partner; do SEGS+=(--segment "seg_$s"); done
FEATS=()
for i in $(seq -w 0 29); do FEATS+=(--features "num_$i"); done
for i in $(seq 0 9); do FEATS+=(--features "cat_0$i"); done
ROLES=(--timestamp ts --label label --prediction score)
# the baseline both sides read (`triage --baseline`), written once by the working tree
"$PY" -P -m mlfail baseline create --reference "$D/reference.parquet" --out "$OUT/bl.json" \
    "${FEATS[@]}" "${ROLES[@]}" "${SEGS[@]}" --force 2>/dev/null
# `python -P`: without it, `-m`/`-c` put the current directory first on sys.path, and run from
# the checkout both sides would import the working tree's mlfail, whatever PYTHONPATH says
for side in "$REV:$OLD" "tree:$ROOT"; do
    got=$(PYTHONPATH=${side#*:} "$PY" -P -c "import mlfail; print(mlfail.__file__)")
    [ "$got" = "${side#*:}/mlfail/__init__.py" ] || { echo "${side%%:*}: imports $got" >&2; exit 2; }
done
run() {  # label, PYTHONPATH, command… (exit 1 is triage's "findings": not a failure here)
    local label=$1 path=$2
    shift 2
    PYTHONPATH=$path /usr/bin/time -f "$label %e s cpu %U+%S s %M KB (exit %x)" "$@" 2>&1 \
        >/dev/null | tail -1 || true
}
for r in $(seq "$ROUNDS"); do
    sides=("$REV:$OLD" "tree:$ROOT")
    ((r % 2)) || sides=("tree:$ROOT" "$REV:$OLD")  # ABBA: neither side always goes first
    for side in "${sides[@]}"; do
        name=${side%%:*}
        path=${side#*:}
        run "$name bare-scan" "$path" "$PY" -P -c "import polars as pl; pl.scan_parquet('$D/live.parquet').select(pl.all().null_count()).collect(engine='streaming')"
        run "$name triage-reference" "$path" "$PY" -P -m mlfail triage -r "$D/reference.parquet" \
            -l "$D/live.parquet" "${ROLES[@]}" "${SEGS[@]}" --no-input -f json -o "$OUT/t.json" --force
        run "$name triage-baseline" "$path" "$PY" -P -m mlfail triage --baseline "$OUT/bl.json" \
            -l "$D/live.parquet" "${ROLES[@]}" "${SEGS[@]}" --no-input -f json -o "$OUT/t.json" --force
        run "$name baseline-create" "$path" "$PY" -P -m mlfail baseline create \
            --reference "$D/reference.parquet" --out "$OUT/b.json" "${FEATS[@]}" "${ROLES[@]}" \
            "${SEGS[@]}" --force
    done
done
