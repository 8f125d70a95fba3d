"""The report of a real demo run, opened in headless Chromium (Debian's, found as the web source finds it)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pipelines.report import build_report, main
from sources.web.browser import LAUNCH_ARGS, find_browser
from tests.conftest import REPO

ARTIFACTS = Path(os.environ.get("VLFORGE_ARTIFACTS", REPO / ".artifacts"))


@pytest.mark.slow
def test_the_report_loads_cleanly_and_shows_the_numbers_of_stats_json(demo_output):
    from playwright.sync_api import sync_playwright

    path = demo_output / "report.html"
    assert path.is_file(), "the build writes report.html at the end"
    path = build_report(demo_output)  # and the report command rebuilds it
    stats = json.loads((demo_output / "stats.json").read_text())
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_browser(), args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("request", lambda r: problems.append(f"network: {r.url}") if not r.url.startswith(("file:", "data:"))
                else None)
        page.goto(path.resolve().as_uri())
        page.wait_for_load_state("load")
        assert problems == []
        images = page.evaluate("[...document.images].map(i => i.naturalWidth)")
        assert len(images) >= 10 and all(w > 0 for w in images)
        shown = page.evaluate("Object.fromEntries([...document.querySelectorAll('[data-stat]')]"
                              ".map(e => [e.dataset.stat, Number(e.textContent)]))")
        for key in ("inputs", "items", "kept", "dropped", "errors", "shards"):
            assert shown[key] == stats[key], key
        assert shown["duplicates"] == stats["dedup"]["duplicates"]
        text = page.inner_text("body")
        for heading in ("Funnel", "Counts", "Distributions", "Samples by kind", "Samples by use-case tag",
                        "OCR lines on a few pages", "Rejected samples", "Errors"):
            assert heading in text
        assert "recognition.ocr_transcription" in text
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        browser.close()
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000


def test_report_of_a_folder_without_a_run_is_a_clear_error(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert "no finished run" in capsys.readouterr().err
