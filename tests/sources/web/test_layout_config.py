"""Pure parts of the web source: tile geometry, book-page cuts, settings checks (no browser)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from pipelines.config import Config, config_class, load
from sources.web.layout import cut, fixed_cuts, main_text, page_cuts

REPO = Path(__file__).resolve().parents[3]


def png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 10, 10)).save(buf, format="PNG")
    return buf.getvalue()


def test_tiles_are_viewport_steps_and_a_sliver_at_the_end_is_left_out():
    assert fixed_cuts(2500, 1024, 4, min_last=256) == [(0, 1024), (1024, 1024), (2048, 452)]
    assert fixed_cuts(2100, 1024, 4, min_last=256) == [(0, 1024), (1024, 1024)]  # a 52 px sliver
    assert fixed_cuts(9000, 1024, 2, min_last=256) == [(0, 1024), (1024, 1024)]


def test_blocks_go_to_the_tile_holding_their_centre_in_its_pixels():
    blocks = [{"tag": "p", "text": "top", "box": [10, 10, 200, 30]},
              {"tag": "p", "text": "straddles", "box": [10, 1000, 200, 1040]},
              {"tag": "p", "text": "second", "box": [10, 1500, 200, 1530], "region": "main"}]
    tiles = cut(lambda top, h: png(1024, h), blocks, [(0, 1024), (1024, 1024)], 1024)
    assert [t.text for t in tiles] == ["top\nstraddles", "second"]
    assert tiles[0].blocks[1]["box"] == [10, 1000, 200, 1024]  # clipped to the tile
    assert tiles[1].blocks[0] == {"tag": "p", "text": "second", "box": [10, 476, 200, 506], "region": "main"}


def test_book_pages_never_cut_a_line_and_carry_the_margin():
    lines = [(40 + 30 * i, 60 + 30 * i) for i in range(40)]  # 40 lines, 20 px high, 30 px apart
    blocks = [{"tag": "p", "text": f"line {i}", "box": [50, y0, 500, y1], "lines": [[y0, y1]]}
              for i, (y0, y1) in enumerate(lines)]
    cuts = page_cuts(blocks, 1300, 400, 10, start=40)
    assert cuts[0][0] == 40 and sum(h for _, h in cuts) == 1300 - 40
    for top, h in cuts:
        assert not any(y0 < top + h < y1 for y0, y1 in lines)
    pages = cut(lambda top, h: png(640, h), blocks, cuts, 640, pad_to=480, background=(255, 255, 255), margin=40)
    assert all(Image.open(io.BytesIO(p.png)).size == (640, 480) for p in pages)
    assert [b["text"] for p in pages for b in p.blocks] == [f"line {i}" for i in range(40)]
    assert pages[0].blocks[0]["box"][1] == 40  # the first line sits below the top margin


def test_main_text_prefers_the_main_region():
    blocks = [{"text": "Menu", "region": "chrome"}, {"text": "Story", "region": "main"},
              {"text": "Aside", "region": "body"}]
    assert main_text(blocks) == "Story"
    assert main_text([b for b in blocks if b["region"] != "main"]) == "Aside"


def test_web_settings_are_checked_at_start():
    cfg = config_class()()
    with pytest.raises(ValueError, match="web.templates"):
        cfg.replace("web", templates=("gothic",)).validate()
    with pytest.raises(ValueError, match="not an http"):
        cfg.replace("web", seeds=("example.org",)).validate()
    with pytest.raises(ValueError, match="web.crawl.max_pages"):
        cfg.replace("web.crawl", max_pages=0).validate()


def test_the_shipped_web_config_states_the_defaults():
    cfg = load(REPO / "configs" / "web.toml")
    assert cfg.web == Config().web and cfg.run.source == "web"
