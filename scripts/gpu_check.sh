#!/usr/bin/env bash
# GPU readiness: the model, trainer and notebook-03 tests, `bench` and `bench --seeds 3` (three seeds
# trained as one stacked model beside one alone) on CUDA, then one summary.
#
#   bash scripts/gpu_check.sh            # from anywhere; runs in the repository root
#   GPU_CHECK_DEVICE=cpu bash scripts/gpu_check.sh   # the same steps on the CPU (checks the script itself)
#
# Python: $PYTHON if set, else .venv/bin/python if present, else python3 with PYTHONPATH=.
# (a machine with its own torch and the dev packages: pytest, nbclient, nbformat, ipykernel).
# Logs and the bench record go to $GPU_CHECK_OUT (default: a new temporary folder).
# Exit status: 0 when everything passed, 1 when a step failed, 2 when torch sees no CUDA device.
set -u
cd "$(dirname "$0")/.."
if [ -n "${PYTHON:-}" ]; then PY=$PYTHON
elif [ -x .venv/bin/python ]; then PY=.venv/bin/python
else PY=python3; export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}"; fi
DEVICE=${GPU_CHECK_DEVICE:-cuda}
export DMDLAB_TEST_DEVICE=$DEVICE HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
OUT=${GPU_CHECK_OUT:-$(mktemp -d -t dmdlab-gpu-check-XXXXXX)}
mkdir -p "$OUT"
export DMDLAB_HOME="$OUT/home"   # built-in data and notebook runs: not the user's cache

if [ "$DEVICE" != cpu ] && ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>"$OUT/torch.log"; then
    echo "gpu_check: torch sees no CUDA device ($PY; $(tail -1 "$OUT/torch.log"))" >&2
    exit 2
fi
"$PY" -c "import torch; print('gpu_check:', torch.cuda.get_device_name(0) if '$DEVICE' != 'cpu' else 'cpu', f'torch {torch.__version__}, CUDA {torch.version.cuda}')"

status=0
step() {   # step NAME COMMAND...: run it, log to $OUT/NAME.log, remember the outcome
    local name=$1; shift
    local started=$SECONDS
    "$@" >"$OUT/$name.log" 2>&1
    local rc=$?
    echo "$name rc=$rc $((SECONDS - started))s" >>"$OUT/steps.txt"
    [ $rc -eq 0 ] || status=1
}
step tests "$PY" -m pytest -q -p no:cacheprovider tests/test_model_variants.py tests/test_model_layers.py \
    tests/test_model_losses.py tests/test_trainer.py --junitxml="$OUT/tests.xml"
step notebook03 "$PY" -m pytest -q -p no:cacheprovider tests/test_notebooks.py -k "03_training" --junitxml="$OUT/notebook03.xml"
step data "$PY" -m dmdlab data synth --scale mosi --seed 0 --out "$OUT/synth_mosi.pkl"
step bench "$PY" -m dmdlab bench --data "$OUT/synth_mosi.pkl" --device "$DEVICE" --epochs 1
step seeds "$PY" -m dmdlab bench --data "$OUT/synth_mosi.pkl" --device "$DEVICE" --seeds 3   # 3 members stacked vs alone

"$PY" - "$OUT" <<'PY'
import json, sys, xml.etree.ElementTree as ET
from pathlib import Path

out = Path(sys.argv[1])
print("gpu_check summary")
for line in (out / "steps.txt").read_text().splitlines():
    name, rc, seconds = line.split()
    detail = ""
    report = out / f"{name}.xml"
    if report.is_file():
        suite = ET.parse(report).getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
        counts = {key: int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")}
        detail = (f"{counts['tests'] - counts['failures'] - counts['errors'] - counts['skipped']} passed, "
                  f"{counts['failures']} failed, {counts['errors']} errors, {counts['skipped']} skipped")
        failed = [f"{case.get('classname')}::{case.get('name')}" for case in suite.iter("testcase")
                  if case.find("failure") is not None or case.find("error") is not None]
        detail += "".join(f"\n      FAILED {name}" for name in failed[:10])
    elif name in ("bench", "seeds") and rc == "rc=0":
        record = json.loads((out / "bench.log").read_text().strip().splitlines()[-1])
        detail = ", ".join(f"{k}={v}" for k, v in record.items() if any(w in k for w in ("per_s", "peak", "device", "_over_")))
    print(f"  {name:<11} {rc:<5} {seconds:>6}  {detail}")
print(f"logs: {out}")
PY
exit $status
