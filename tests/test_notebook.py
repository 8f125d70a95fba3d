"""notebooks/inspect.ipynb runs top to bottom on the demo output, offline, and is what its generator writes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "inspect.ipynb"


def _kernel_manager():
    """A kernel of this interpreter, whatever kernel specs Jupyter would find on the machine.

    `kernel_dirs=[]` hides user and system specs (a `python3` spec there may point at another Python);
    ipykernel's own native spec is still offered as `python3`, and its argv starts with sys.executable.
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    ksm = KernelSpecManager(kernel_dirs=[], ensure_native_kernel=True)
    km = KernelManager(kernel_name="python3", kernel_spec_manager=ksm)
    assert km.kernel_spec.argv[0] == sys.executable, km.kernel_spec.argv
    return km


def _run(out_dir: Path, tmp_path: Path, monkeypatch) -> nbformat.NotebookNode:
    """Execute the notebook on `out_dir` offline, with outputs filled in; a failing cell raises."""
    from nbclient import NotebookClient

    monkeypatch.setenv("VLFORGE_OUT", str(out_dir))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, km=_kernel_manager(), timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(REPO)}})
    client.execute()  # raises nbclient.exceptions.CellExecutionError on the first failing cell
    return nb


def _texts(nb) -> dict[str, str]:
    """Each code cell's printed and displayed text, by cell id."""
    return {cell.id: "".join(o.get("text", "") + "".join(o.get("data", {}).get("text/plain", ""))
                             for o in cell.get("outputs", []))
            for cell in nb.cells if cell.cell_type == "code"}


def _html(nb, cell_id: str) -> str:
    """The HTML a code cell displayed."""
    cell = next(c for c in nb.cells if c.id == cell_id)
    return "".join(o.get("data", {}).get("text/html", "") for o in cell.get("outputs", []))


def _centre(data: str) -> tuple[int, ...]:
    """The centre pixel of a base64 image."""
    import base64
    import io

    from PIL import Image

    im = Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")
    return im.getpixel((im.width // 2, im.height // 2))


def _images(nb) -> int:
    return sum("image/png" in o.get("data", {}) for cell in nb.cells for o in cell.get("outputs", []))


@pytest.mark.slow
def test_inspect_notebook_runs_on_demo_output(demo_output, tmp_path, monkeypatch):
    nb = _run(demo_output, tmp_path, monkeypatch)
    out = _texts(nb)
    assert str(demo_output) in out["setup"]
    assert "Image(" in out["load"]  # the shard schema's HF Image feature
    assert "page" in out["counts"] and "recognition.ocr_transcription" in out["counts"]
    assert "funnel of source 'pdf'" in out["funnel"]
    assert "no OCR lines" not in out["ocr"]  # the demo is built with rapidocr: a page is drawn
    assert "2 chart samples; the first" in out["chart"]  # the charts the PDF source cropped from the corpus
    assert "samples tagged recognition.ocr_transcription" in out["tag"] and "[assistant]" in out["tag"]
    assert _images(nb) == 3  # the sample grid, the OCR page and a chart


def test_notebook_matches_generator(tmp_path):
    """The committed .ipynb is what notebooks/make_inspect.py writes (edit the generator, then rerun it)."""
    fresh = tmp_path / "inspect.ipynb"
    proc = subprocess.run([sys.executable, str(REPO / "notebooks" / "make_inspect.py"), str(fresh)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert fresh.read_bytes() == NOTEBOOK.read_bytes(), "inspect.ipynb is stale: run python notebooks/make_inspect.py"


def _synthetic_output(out: Path) -> Path:
    """A small output folder with what the demo lacks: a chart with table and code, a page without OCR,
    an interleaved document with three images, filter and dedup rejects, an error. Written with the
    shard schema, as the runner writes it."""
    import io
    import json

    import pyarrow.parquet as pq
    from PIL import Image

    from pipelines.documents import DocumentBuilder
    from pipelines.schema import DOCUMENT_KIND, ERROR_SCHEMA, SAMPLE_SCHEMA, image_value, to_table

    def png(color: str, size=(320, 240)) -> bytes:
        buf = io.BytesIO()
        Image.new("RGB", size, color).save(buf, format="PNG")
        return buf.getvalue()

    chart = {"id": "c1", "source": "chart", "kind": "chart", "uri": "gen://bar/1", "locator": "seed=1",
             "image": image_value(png("white")), "width": 320, "height": 240, "text": "Leakage 2021-2025",
             "lang": "en", "keep": True, "table": "year,leakage\n2021,19.5\n2022,18.2",
             "code": "plt.bar(years, leakage)", "tags": ["analysis.data_chart"], "tag_scores": [1.0],
             "messages": [{"role": "user", "content": "<image>\nWhat is shown?"},
                          {"role": "assistant", "content": "year,leakage\n2021,19.5\n2022,18.2"}]}
    page = {"id": "p1", "source": "pdf", "kind": "page", "uri": "file:///x/scan.pdf", "locator": "page=1",
            "image": image_value(png("grey", (200, 280))), "width": 200, "height": 280, "text": None,
            "lang": "und", "keep": True, "ocr": [], "tags": [], "tag_scores": []}
    text = {"id": "t1", "source": "pdf", "kind": "text", "uri": "file:///x/scan.pdf", "locator": "page=1",
            "text": "城市公共图书馆使用指南", "lang": "zh", "keep": True}
    doc = DocumentBuilder()
    doc.text("How rivers shape valleys")
    for i, colour in enumerate(("red", "green", "blue")):
        doc.image(png(colour, (120 + 40 * i, 90)), {"caption": f"Figure {i + 1}: the {colour} valley",
                                                    "caption_source": "figcaption"})
        doc.text(f"Paragraph {i + 1} after the {colour} valley.")
    fields = doc.fields()
    document = {"id": "d1", "source": "web", "kind": DOCUMENT_KIND, "uri": "https://example.org/rivers",
                "locator": "", "text": fields["text"], "images": fields["images"], "lang": "en", "keep": True,
                "meta": json.dumps({**fields["meta"], "title": "Rivers"})}
    (out / "shards").mkdir(parents=True)
    (out / "rejects").mkdir()
    pq.write_table(to_table([chart, page, text, document], schema=SAMPLE_SCHEMA),
                   out / "shards" / "part-00000.parquet")
    dropped = {"id": "t2", "source": "pdf", "kind": "text", "keep": False, "drop_reason": "text_filter:too_short"}
    dup = {"id": "c2", "source": "chart", "kind": "chart", "keep": False, "drop_reason": "duplicate_of:c1"}
    pq.write_table(to_table([dropped], schema=SAMPLE_SCHEMA), out / "rejects" / "part-00000.parquet")
    pq.write_table(to_table([dup], schema=SAMPLE_SCHEMA), out / "rejects" / "dedup-part-00000.parquet")
    error = {"id": "e1", "uri": "file:///x/locked.pdf", "locator": "", "source": "pdf", "stage": "read",
             "error_type": "EncryptedPDF", "message": "the PDF is encrypted and no password was given"}
    pq.write_table(to_table([error], schema=ERROR_SCHEMA), out / "errors.parquet")
    funnel = {"pdf": {"in": 4, "out": 2, "dropped": {"text_filter:too_short": 1}, "errors": 1},
              "chart": {"in": 2, "out": 1, "dropped": {"duplicate": 1}, "errors": 0}}
    (out / "stats.json").write_text(json.dumps({"inputs": 3, "kept": 3, "dropped": 2, "errors": 1, "shards": 1,
                                                "funnel": funnel}))
    return out


@pytest.mark.slow
def test_inspect_notebook_branches_missing_from_the_demo(tmp_path, monkeypatch):
    """Charts, rejects and errors are shown when present; a page without OCR lines is a message, not an error."""
    nb = _run(_synthetic_output(tmp_path / "out"), tmp_path, monkeypatch)
    out = _texts(nb)
    assert "chart" in out["counts"] and "analysis.data_chart" in out["counts"]
    assert "- text_filter:too_short" in out["funnel"] and "- errors" in out["funnel"]
    assert "kinds without images: ['text']" in out["grid"]
    assert "no OCR lines in this output" in out["ocr"]
    assert "1 chart samples" in out["chart"] and "2021  19.5" in out["chart"] and "plt.bar" in out["chart"]
    assert "0 of 4 samples tagged" in out["tag"]
    assert "1 documents; the first 1 as they read" in out["docs"] and "3 images inline" in out["docs"]
    page = _html(nb, "docs")
    # The document as it reads: each image inline after the paragraph before it, with its caption.
    at = 0
    for piece in ("How rivers shape valleys", "<img", "Figure 1: the red valley (from figcaption)", "Paragraph 1",
                  "<img", "Figure 2: the green valley", "Paragraph 2", "<img", "Figure 3", "Paragraph 3"):
        at = page.index(piece, at) + len(piece)  # ValueError when a piece is missing or out of order
    colours = [_centre(data) for data in re.findall(r'src="data:image/jpeg;base64,([^"]+)"', page)]
    assert [max(range(3), key=c.__getitem__) for c in colours] == [0, 1, 2]  # red, green, blue: the document's order
    assert "2 rejected samples" in out["rejects"] and "duplicate_of:<id>" in out["rejects"]
    assert "read: EncryptedPDF" in out["rejects"] and "encrypted" in out["rejects"]
    assert _images(nb) == 2  # the sample grid and the chart
