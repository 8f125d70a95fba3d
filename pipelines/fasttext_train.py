"""fastText supervised training in a fresh interpreter, shared by every fastText classifier we train.

Used by the text-quality filter (`filters/quality_model.py`) and the request classifier (`taxonomy/classifier.py`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_FIT_SCRIPT = """
import json, sys
import fasttext
train_path, model_path, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
fasttext.train_supervised(input=train_path, **params).save_model(model_path)
"""


def fit_fasttext(train_path: Path, model_path: Path, params: dict) -> None:
    """Run fastText training in a fresh interpreter.

    A second training run in the same interpreter gives different weights from the first, and sometimes fails with
    "Encountered NaN" (probably native memory that a fresh process gets zeroed and a reused heap does not). In a
    child process every run starts from the same state, so a seed always gives the same model.
    """
    proc = subprocess.run([sys.executable, "-c", _FIT_SCRIPT, str(train_path), str(model_path), json.dumps(params)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        hint = ""
        if "train_supervised" in proc.stderr:
            hint = (" (the installed `fasttext` module is fasttext-predict's predict-only one; run "
                    "`pip install --force-reinstall --no-deps fasttext-numpy2-wheel`, as scripts/setup.sh does)")
        raise RuntimeError(f"fastText training failed{hint}: {proc.stderr.strip()[-2000:]}")
