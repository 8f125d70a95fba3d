"""The pure parts of web documents, without a browser: which alt text is a caption, the checks an
image passes before it is decoded, data: URIs, and the SVG <use> bomb check."""

from __future__ import annotations

import base64
import struct
import zlib

import pytest

from sources.web.captions import choose, describes
from sources.web.images import ImageRejected, decode_data_uri, inspect, snake, svg_bomb, use_instances
from tests.sources.web.docsite import SWATCH, png, use_bomb


@pytest.mark.parametrize("alt", ["image", "Logo", "img_123.jpg", "IMG_2041", "DSC01234.JPG", "company logo",
                                 "图片", "  ", "12", "search icon", "Lighthouse society logo", "photo.png"])
def test_file_names_and_boilerplate_are_no_caption(alt):
    assert not describes(alt)


@pytest.mark.parametrize("alt", ["A bar chart of rainfall per month", "猫在睡觉", "Plot of sin(x)",
                                 "The harbour seen from the tower"])
def test_descriptive_alt_text_is_a_caption(alt):
    assert describes(alt)


def test_caption_sources_in_order_of_trust():
    assert choose("Figure 1: a", "Figure 2: b", "an alt text", "a title") == ("Figure 1: a", "figcaption")
    assert choose("", "图 2：位置", "an alt text") == ("图 2：位置", "title")
    assert choose("", "", "logo", "The old tower in 1901") == ("The old tower in 1901", "title")
    assert choose("", "", "chart.png", "") == ("", "")
    assert choose("", "", "./diagonal", "", src="http://h/doc/diagonal.png") == ("", "")  # Texinfo's alt
    assert choose("", "", "convhull", "", src="http://h/doc/convhull.png") == ("", "")  # the file's own name
    assert choose("", "", "Convex hull of the points", "", src="http://h/convhull.png")[1] == "alt"


def huge_header_png(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height but whose data is a few bytes (it cannot be decoded)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = lambda kind, data: (struct.pack(">I", len(data)) + kind + data  # noqa: E731
                                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b"")


def test_pixel_limits_are_read_from_the_header_before_decoding():
    with pytest.raises(ImageRejected) as e:
        inspect(huge_header_png(100_000, 100_000), max_megapixels=25)  # 10 gigapixels, never decoded
    assert e.value.reason == "too_many_pixels"
    with pytest.raises(ImageRejected) as e:
        inspect(png(1600, 1000, 1), max_megapixels=1)
    assert e.value.reason == "too_many_pixels"
    head = inspect(png(320, 200, 1), max_megapixels=1)
    assert (head.format, head.width, head.height) == ("png", 320, 200)
    for bad in (b"", b"GIF89a-not-really", png(320, 200, 1)[:200]):
        with pytest.raises(ImageRejected) as e:
            inspect(bad, max_megapixels=25)
        assert e.value.reason == "undecodable"


def test_data_uris_decode_when_small_and_an_image():
    uri = "data:image/png;base64," + base64.b64encode(SWATCH).decode()
    assert decode_data_uri(uri, 10_000) == (SWATCH, "image/png")
    assert decode_data_uri("data:image/svg+xml,%3Csvg%2F%3E", 100) == (b"<svg/>", "image/svg+xml")
    for bad, reason in ((uri, "data_uri_too_large"), ("data:text/html,<b>x</b>", "data_uri_not_image"),
                        ("data:image/png;base64", "bad_data_uri")):
        with pytest.raises(ImageRejected) as e:
            decode_data_uri(bad, 100)
        assert e.value.reason == reason


def test_svg_use_bombs_are_found_and_ordinary_sprites_pass():
    assert svg_bomb(use_bomb())
    cycle = b'<svg><g id="a"><use href="#b"/></g><g id="b"><use xlink:href="#a"/></g></svg>'
    assert svg_bomb(cycle)
    sprite = ('<svg style="display:none"><symbol id="i"><path d="M0 0h9"/></symbol></svg>'
              + "<p>text" * 3000 + '<svg><use href="#i"/></svg>' * 50)
    assert not svg_bomb(sprite, html=True) and 0 < use_instances(sprite, html=True) < 500
    assert svg_bomb("<div><p>" * 2000 + use_bomb().decode(), html=True)  # unclosed HTML tags do not hide it
    assert use_instances(b"<svg><rect/></svg>") == 0


def test_fetch_errors_become_snake_case_drop_reasons():
    assert [snake(t) for t in ("Http404", "TooLarge", "RobotsDisallowed", "PrivateAddress", "Timeout")] == [
        "http_404", "too_large", "robots_disallowed", "private_address", "timeout"]
