"""A site with known images for the interleaved-document tests: every file's bytes are known, so a
test can prove the document holds exactly them (sha256), and every bad image the issue names is there."""

from __future__ import annotations

import base64
import hashlib
import io

import numpy as np
from PIL import Image, ImageDraw

from tests.sources.web.sites import Reply


def png(w: int, h: int, seed: int, noisy: bool = False) -> bytes:
    """A PNG that looks like a small bar chart (or noise, which does not compress)."""
    rng = np.random.default_rng(seed)
    if noisy:
        im = Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    elif min(w, h) < 40:
        im = Image.new("RGB", (w, h), (int(rng.integers(0, 255)), 120, 60))
    else:
        im = Image.new("RGB", (w, h), "white")
        d = ImageDraw.Draw(im)
        for i in range(5):
            top = int(rng.integers(h // 5, h - 10))
            d.rectangle([10 + i * (w - 20) // 5, top, 10 + (i + 1) * (w - 20) // 5 - 6, h - 10],
                        fill=(40 + 40 * i, 90, 200 - 30 * i))
        d.line([5, h - 10, w - 5, h - 10], fill="black", width=2)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def jpeg(w: int, h: int) -> bytes:
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([x * 255 // w, y * 255 // h, (x + y) * 255 // (w + h)], axis=-1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def use_bomb() -> bytes:
    """Ten nested groups of ten <use> references: 10^10 elements, which hangs a Chromium renderer."""
    levels = ['<g id="l0"><rect width="10" height="10" fill="red"/></g>']
    for i in range(1, 11):
        levels.append(f'<g id="l{i}">' + "".join(f'<use href="#l{i - 1}" x="{j}"/>' for j in range(10)) + "</g>")
    return ('<svg xmlns="http://www.w3.org/2000/svg" width="300" height="300"><defs>' + "".join(levels)
            + '</defs><use href="#l10"/></svg>').encode()


DIAGRAM_SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" width="240" height="160" viewBox="0 0 240 160">'
               b'<rect width="240" height="160" fill="white"/><path d="M0 80 Q60 0 120 80 T240 80" stroke="navy" '
               b'stroke-width="4" fill="none"/></svg>')

FILES: dict[str, tuple[bytes, str]] = {
    "/img/chart.png": (png(320, 200, 1), "image/png"),
    "/img/photo.jpg": (jpeg(400, 300), "image/jpeg"),
    "/img/map.png": (png(300, 220, 2), "image/png"),
    "/img/icon.png": (png(16, 16, 3), "image/png"),
    "/img/logo.png": (png(180, 48, 4), "image/png"),
    "/img/lazy.png": (png(320, 240, 5), "image/png"),
    "/img/big.png": (png(400, 400, 6, noisy=True), "image/png"),  # ~480 KB: over a 300 KB byte limit
    "/img/huge.png": (png(1600, 1000, 7), "image/png"),  # 1.6 MP: over a 1 MP pixel limit, few bytes
    "/img/bomb.svg": (use_bomb(), "image/svg+xml"),
    "/img/diagram.svg": (DIAGRAM_SVG, "image/svg+xml"),
    "/img/bg.png": (png(300, 200, 8), "image/png"),
    "/private/secret.png": (png(200, 200, 9), "image/png"),
    "/img/bad.png": (b"\x89PNG\r\n\x1a\nthis is not a png", "image/png"),
}
SWATCH = png(100, 80, 10)
SWATCH_URI = "data:image/png;base64," + base64.b64encode(SWATCH).decode()
GIF_PIXEL = "data:image/gif;base64,R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw=="
TEXT = ("Rain gauges on the northern cape were read every morning at seven, and the keepers wrote the "
        "millimetres into a ledger beside the wind and the state of the sea. ")

ARTICLE = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Rainfall on the cape</title>
<style>.lazy{{opacity:0}} .bg{{background-image:url(/img/bg.png);width:300px;height:200px}}</style></head>
<body><header><img src="/img/logo.png" alt="logo"><nav><a href="/more">More</a></nav></header>
<main><h1>Rainfall on the cape</h1><p>{TEXT}</p>
<figure><img src="/img/chart.png" alt="chart.png">
<figcaption>Figure 1: Rainfall per month at the cape.</figcaption></figure>
<p>Second paragraph. {TEXT}</p>
<div><img src="/img/photo.jpg" alt="A lighthouse at dusk on the northern cape"></div>
<div class="float"><p class="cap">图 2：灯塔的位置</p><img src="/img/map.png"></div>
<p>An icon <img src="/img/icon.png" alt="icon"> and the logo <img src="/img/logo.png" alt="logo"> in the text.</p>
<img class="lazy" src="{GIF_PIXEL}" data-src="/img/lazy.png" alt="The harbour seen from the tower">
<img src="/img/missing.png" alt="A picture that is gone">
<img src="/img/big.png"><img src="/img/huge.png"><img src="/img/bomb.svg"><img src="/img/bad.png">
<img src="/img/diagram.svg" alt="Diagram of the tide cycle">
<img src="{SWATCH_URI}" alt="A swatch of sea blue">
<img src="/private/secret.png">
<div class="bg"></div><svg width="16" height="16"><circle cx="8" cy="8" r="6" fill="red"/></svg>
<figure><svg width="400" height="240" viewBox="0 0 400 240"><rect x="20" y="100" width="60" height="140"
fill="#2e7bc4"/><rect x="120" y="40" width="60" height="200" fill="#2e7bc4"/><line x1="10" y1="240" x2="390"
y2="240" stroke="black"/></svg><figcaption>Figure 3: Boats guided per year.</figcaption></figure>
<h2>Readings</h2><ul><li>Morning reading at seven</li><li>Evening reading at six</li></ul>
<table><tr><th>Month</th><th>mm</th></tr><tr><td>January</td><td>80</td></tr></table>
<pre>total = sum(readings)</pre>
</main><footer><p>Lighthouse society footer text</p></footer></body></html>"""


def many_page(n: int) -> str:
    imgs = "".join(f'<p>Image {i}</p><img src="/img/n/{i}.png" alt="Buoy number {i} in the bay">' for i in range(n))
    return f"<!doctype html><html lang='en'><head><title>Many</title></head><body><main>{imgs}</main></body></html>"


def numbered(path: str) -> Reply | None:
    if path.startswith("/img/n/") and path.endswith(".png"):
        i = int(path.removeprefix("/img/n/").removesuffix(".png"))
        return Reply(png(64 + i % 7, 64, 100 + i), ctype="image/png")
    return None


def routes() -> dict[str, Reply]:
    out = {path: Reply(data, ctype=ctype) for path, (data, ctype) in FILES.items()}
    out["/robots.txt"] = Reply("User-agent: *\nDisallow: /private/\n", ctype="text/plain")
    out["/article"] = Reply(ARTICLE)
    return out
