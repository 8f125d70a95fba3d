"""OCR on a GPU: [resources.ocr] num_gpus > 0 puts the backend on the worker's GPU, or stops the run.

This machine has no GPU, so what runs here is the refusal path, end to end: a backend asked for a
GPU it cannot use says what to install (never reads on the CPU while a GPU sits reserved), and a run
asking for more GPUs than its Ray cluster has stops before any work instead of waiting forever in
Ray's queue. On a machine with CUDA builds the same tests read a page on the GPU instead.
"""

from __future__ import annotations

import dataclasses

import pytest

from annotators.ocr.backend import BackendUnavailable, OcrConfig, make_backend, reading_order
from annotators.ocr.cer import cer
from annotators.ocr.stage import OcrStage
from pipelines.config import Config, StageResources
from pipelines.recipes import build_pipeline
from pipelines.runner import RunOptions, run
from pipelines.stage import StageUnavailable
from tests.annotators.test_paddle import ENGLISH, render


def _has_cuda_onnxruntime() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers() and onnxruntime.get_device() == "GPU"


def _has_cuda_paddle() -> bool:
    import paddle

    return paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0


@pytest.mark.parametrize(("name", "has_cuda", "package"), [
    ("rapidocr", _has_cuda_onnxruntime, "onnxruntime-gpu"),
    ("paddleocr", _has_cuda_paddle, "paddlepaddle-gpu"),
])
def test_a_backend_asked_for_a_gpu_reads_on_it_or_names_the_build_to_install(name, has_cuda, package):
    backend = make_backend(OcrConfig(backend=name), threads=1, gpu=True)
    if has_cuda():
        backend.load()
        text = "\n".join(line.text for line in reading_order(backend.read(render(ENGLISH))))
        assert cer("".join(ENGLISH.split()), "".join(text.split())) < 0.05
    else:
        with pytest.raises(BackendUnavailable, match=f"num_gpus > 0 .*{package}.*num_gpus = 0"):
            backend.load()


def test_the_cpu_build_of_each_backend_still_loads_without_a_gpu():
    for name in ("rapidocr", "paddleocr"):
        backend = make_backend(OcrConfig(backend=name), threads=1, gpu=False)
        backend.load()
        assert backend.read(render(ENGLISH))


def test_tesseract_has_no_gpu_build_and_the_run_is_refused_before_any_work():
    with pytest.raises(BackendUnavailable, match="tesseract OCR backend has no GPU build"):
        make_backend(OcrConfig(backend="tesseract"), gpu=True)
    stage = OcrStage(OcrConfig(backend="tesseract", policy="all"))
    stage.resources = dataclasses.replace(stage.resources, num_gpus=1)
    with pytest.raises(BackendUnavailable, match="num_gpus = 0"):
        stage.preflight()


@pytest.mark.usefixtures("ray_session")
def test_a_run_asking_for_more_gpus_than_the_cluster_has_stops_before_any_work(tmp_path, corpus):
    import ray

    if ray.cluster_resources().get("GPU", 0) >= 1:
        pytest.skip("this Ray cluster has a GPU")
    cfg = Config().replace("run", inputs=(str(corpus),)).replace("ocr", backend="rapidocr", policy="all")
    cfg = dataclasses.replace(cfg, resources={"ocr": StageResources(num_gpus=1)})
    pipeline = build_pipeline(cfg)
    assert next(s for s in pipeline.stages if s.name == "ocr").resources.num_gpus == 1
    out = tmp_path / "out"
    with pytest.raises(StageUnavailable, match=r"\[resources.ocr\] num_gpus = 1, but the Ray cluster has 0 GPUs"):
        run(pipeline, RunOptions.from_config(cfg, out=out))
    assert not list((out / "shards").glob("*.parquet"))
