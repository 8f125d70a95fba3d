#!/usr/bin/env bash
# Install vlforge the way a user does and run it away from the checkout: build the wheel, install it into a
# fresh venv (PyTorch's CPU wheel first, then the wheel with [all]; no setup.sh, no patching), then from an
# empty folder: pip check, the demo build, the quality model's training, the report, an export, a short
# trainer run and a datasets.load_dataset of the output. Each step says what it runs; the first failure stops
# the script with the step's name. CI runs it after the tests (.ci/run). Takes a few minutes, most of it pip.
#   bash scripts/check_wheel.sh            # in a temporary folder, removed at the end when all passed
#   KEEP=/tmp/wheelcheck bash scripts/check_wheel.sh   # there, kept (a second run reuses its venv)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
work=${KEEP:-$(mktemp -d -t vlforge-wheel-XXXXXX)}
mkdir -p "$work"
venv=$work/venv
step() { echo "check_wheel: $*"; }
trap 'echo "check_wheel: FAILED at: $current (logs and files in $work)" >&2' ERR

current="build the wheel"; step "$current"
[ -x "$venv/bin/python" ] || "$PY" -m venv "$venv"
rm -rf "$work/dist"
"$venv/bin/pip" wheel -q --no-deps "$root" -w "$work/dist"
wheel=$(ls "$work"/dist/vlforge-*.whl)
step "wheel $(basename "$wheel"): $(du -k "$wheel" | cut -f1) KB, $("$venv/bin/python" -m zipfile -l "$wheel" | wc -l) files"

current="install torch==2.13.0, then the wheel with [all], into $venv"; step "$current"
start=$(date +%s)
"$venv/bin/pip" install -q "torch==2.13.0"
"$venv/bin/pip" install -q --force-reinstall --no-deps "$wheel"  # a kept venv may hold an older build
"$venv/bin/pip" install -q "$wheel[all]"
step "installed in $(( $(date +%s) - start )) s"

current="pip check"; step "$current"
"$venv/bin/pip" check

empty=$work/run
rm -rf "$empty" && mkdir -p "$empty" && cd "$empty"
# A user's environment: no checkout on the path, models trained into a cache folder of its own.
unset PYTHONPATH
export VLFORGE_HOME=$work/home HF_HOME=$work/hf HF_HUB_OFFLINE=1 RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
rm -rf "$VLFORGE_HOME"
export PATH=$venv/bin:$PATH

current="the package is the installed one, not the checkout"; step "$current"
python - "$venv" <<'EOF'
import sys
from pathlib import Path

import filters.langid
import pipelines
import sources.pdf

venv = Path(sys.argv[1]).resolve()
for module in (pipelines, sources.pdf):
    assert venv in Path(module.__file__).resolve().parents, f"{module.__name__} comes from {module.__file__}"
assert sources.pdf.EMBEDDED_CORPUS.is_dir() and venv in sources.pdf.EMBEDDED_CORPUS.resolve().parents
assert filters.langid.lid_model_path().is_file()
EOF

current="vlforge build --source pdf (the demo build)"; step "$current"
vlforge build --source pdf
test -f out/pdf/manifest.json
ls out/pdf/shards/*.parquet >/dev/null

current="python -m pipelines.build --print-config pdf"; step "$current"
python -m pipelines.build --print-config pdf | grep -q '^\[pdf\]'

current="python -m filters.train_quality"; step "$current"
python -m filters.train_quality --json quality.json
test -f "$VLFORGE_HOME/models/quality.bin"

current="vlforge report out/pdf"; step "$current"
vlforge report out/pdf
current="vlforge export out/pdf --format jsonl"; step "$current"
vlforge export out/pdf --format jsonl --out exports/pdf-jsonl

current="vlforge train (a short reference trainer run)"; step "$current"
vlforge train --data out/pdf --stage 1 --steps 2 --out ckpt --workers 0
test -f ckpt/checkpoint/model.safetensors

current="datasets.load_dataset(out/pdf)"; step "$current"
python -c "import datasets; d = datasets.load_dataset('out/pdf'); print(d)"

step "all passed"
trap - ERR
cd /
[ -n "${KEEP:-}" ] || rm -rf "$work"
