"""The planted image corpus of the peers bench: renders and crops of real manuals, with planted copies.

    python bench/peers_images.py [--manuals /work/realdocs/manuals] [--per-kind 70] [--json out.json]

Builds the corpus, runs vlforge's dedup on it (the build's own code path) and prints precision and
recall per planted kind. `bench/peers.py` runs the peers on the same corpus.

Originals are what a build emits from real PDFs: every page rendered (`page`, its text layer as text),
a block of text cut from a page (`tile`, the text inside it) and the drawings and embedded pictures
of the pages (`figure`, the text block under it as caption). Blank renders are left out, and so are
originals that already repeat an earlier one (the same copyright page in three R manuals, a gnuplot
figure printed on three pages, a tile that holds its whole page: 256-bit pHash within 24 bits, or
within 12 after trimming the margins), so every duplicate in the corpus is a planted one. Each planted copy
repeats one original (each original is copied at most once), tagged with its kind:

- `exact`: the same bytes and text; `jpeg70`: re-encoded as JPEG at quality 70; `resize80`: resized
  to 80% per side (Lanczos); `crop5`: a border cut off each of the four sides, 3-7% of the side
  drawn per side (5% on average; the picture also shifts, as a hand-made crop does),
- `caption` (figures): the same bytes under another figure's caption,
- `retext` (pages, tiles): the same bytes with the text read again with OCR-like errors (4% of the
  letters changed), as when a page arrives once with its text layer and once as a scan.

Ground truth: each planted copy and its original are one pair of duplicates; nothing else is. A
method is scored on the set of ids it removes (what every peer can report): a pair counts as caught
when one of its two members is removed, a removal is correct when it is the first removal in its
pair, and anything else removed (the second member of a pair, an original without a copy) is a false
positive.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import imagehash
import numpy as np
import pymupdf
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MANUALS = Path("/work/realdocs/manuals")
KINDS = ("exact", "jpeg70", "resize80", "crop5", "caption", "retext")
PAGE_DPI = 100  # renders: about a 850 x 1100 pixel page, a fifth of the work of 144 dpi with the same layout
CROP_DPI = 144  # tiles and figures, as sources/pdf crops them
MIN_SIDE = 120  # tiles and figures smaller than this on either side are left out (the image filter's scale)


def _png(pix: pymupdf.Pixmap) -> bytes:
    return pix.tobytes("png")


def _ink(data: bytes) -> float:
    """Share of pixels darker than paper: renders under 0.2% are blank pages."""
    grey = np.asarray(Image.open(io.BytesIO(data)).convert("L").reduce(4))
    return float((grey < 200).mean())


def _originals(manuals: Path, rng: random.Random) -> list[dict[str, Any]]:
    """Pages, tiles and figures of every manual, blank ones and exact pixel copies left out."""
    out: list[dict[str, Any]] = []
    for pdf_path in sorted(manuals.glob("*.pdf")):
        doc = pymupdf.open(pdf_path)
        name = pdf_path.stem
        for n, page in enumerate(doc):
            out.append({"id": f"{name}-p{n}", "kind": "page", "manual": name,
                        "image": _png(page.get_pixmap(dpi=PAGE_DPI)), "text": page.get_text()})
            blocks = [pymupdf.Rect(b[:4]) for b in page.get_text("blocks") if b[6] == 0 and b[4].strip()]
            if len(blocks) >= 3 and rng.random() < 0.6:  # a run of consecutive blocks: a tile of the page
                start = rng.randrange(0, len(blocks) - 2)
                rect = blocks[start] | blocks[start + 1] | blocks[start + 2]
                rect = (rect + (-6, -6, 6, 6)) & page.rect
                out.append(_crop(page, rect, f"{name}-p{n}-tile", "tile", name, page.get_text(clip=rect)))
            figures = [r for r in page.cluster_drawings() if r.width > 80 and r.height > 60]
            figures += [pymupdf.Rect(i["bbox"]) for i in page.get_image_info() if pymupdf.Rect(i["bbox"]).width > 80]
            for k, rect in enumerate(figures[:3]):
                rect = (rect + (-4, -4, 4, 4)) & page.rect
                below = pymupdf.Rect(rect.x0, rect.y1, rect.x1, min(rect.y1 + 40, page.rect.y1))
                caption = " ".join(page.get_text(clip=below).split())
                out.append(_crop(page, rect, f"{name}-p{n}-fig{k}", "figure", name, caption))
    kept, hashes = [], []
    for row in out:
        if row is None:
            continue
        with Image.open(io.BytesIO(row["image"])) as im:
            if min(im.size) < MIN_SIDE or _ink(row["image"]) < 0.002:
                continue
            grey = im.convert("L")
            full, trimmed = _phash_bits(grey), _phash_bits(_trim(grey))
        if hashes and (np.stack([h for h, _ in hashes]) != full).sum(axis=1).min() <= 24 or \
                hashes and (np.stack([t for _, t in hashes]) != trimmed).sum(axis=1).min() <= 12:
            continue
        hashes.append((full, trimmed))
        kept.append(row)
    return kept


def _phash_bits(grey: Image.Image) -> np.ndarray:
    return imagehash.phash(grey.resize((64, 64), Image.Resampling.LANCZOS), hash_size=16).hash.ravel()


def _trim(grey: Image.Image) -> Image.Image:
    """The picture without its margins (pixels within 40 levels of the border's median)."""
    a = np.asarray(grey).astype(np.int16)
    ink = np.abs(a - int(np.median(np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])))) > 40
    if not ink.any():
        return grey
    ys, xs = np.nonzero(ink)
    return grey.crop((int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))


def _crop(page: pymupdf.Page, rect: pymupdf.Rect, sid: str, kind: str, manual: str, text: str) -> dict[str, Any] | None:
    if rect.is_empty or rect.width < 20 or rect.height < 20:
        return None
    return {"id": sid, "kind": kind, "manual": manual, "text": text,
            "image": _png(page.get_pixmap(dpi=CROP_DPI, clip=rect))}


def _encode(im: Image.Image, fmt: str = "PNG", **kw: Any) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def plant(original: dict[str, Any], kind: str, rng: random.Random, captions: list[str]) -> dict[str, Any]:
    """One planted copy of `original`, as a row of the corpus."""
    copy = {**original, "id": f"{original['id']}~{kind}", "planted": kind, "original": original["id"]}
    with Image.open(io.BytesIO(original["image"])) as im:
        im = im.convert("RGB")
        w, h = im.size
        if kind == "jpeg70":
            copy["image"] = _encode(im, "JPEG", quality=70)
        elif kind == "resize80":
            copy["image"] = _encode(im.resize((round(w * 0.8), round(h * 0.8)), Image.Resampling.LANCZOS))
        elif kind == "crop5":
            left, top, right, bottom = (rng.uniform(0.03, 0.07) for _ in range(4))
            copy["image"] = _encode(im.crop((round(w * left), round(h * top), w - round(w * right),
                                             h - round(h * bottom))))
    if kind == "caption":
        copy["text"] = rng.choice([c for c in captions if c != original["text"]])
    elif kind == "retext":
        copy["text"] = ocr_noise(original["text"], rng)
    return copy


def ocr_noise(text: str, rng: random.Random, rate: float = 0.04) -> str:
    """The text as a mediocre OCR reads it: `rate` of its letters swapped for look-alikes or others,
    line breaks turned to spaces."""
    confusable = {"l": "1", "o": "0", "e": "c", "i": "l", "m": "rn", "s": "5", "a": "o", "t": "f"}
    out = []
    for ch in text.replace("\n", " "):
        if ch.isalpha() and rng.random() < rate:
            out.append(confusable.get(ch.lower(), rng.choice("abcdefghijklmnopqrstuvwxyz")))
        else:
            out.append(ch)
    return "".join(out)


def build_corpus(manuals: Path = MANUALS, per_kind: int = 70, seed: int = 0) -> list[dict[str, Any]]:
    """Originals and planted copies, shuffled; each row: id, kind, manual, image (bytes), text, and for
    a copy `planted` (its kind) and `original` (the id it repeats)."""
    rng = random.Random(seed)
    originals = _originals(manuals, rng)
    captions = [r["text"] for r in originals if r["kind"] == "figure" and len(r["text"]) > 20]
    free = list(range(len(originals)))
    rng.shuffle(free)
    copies = []
    for kind in KINDS:
        allowed = {"caption": ("figure",), "retext": ("page", "tile")}.get(kind, ("page", "tile", "figure"))
        picked = [i for i in free if originals[i]["kind"] in allowed and
                  (kind != "caption" or len(originals[i]["text"]) > 20)][:per_kind]
        free = [i for i in free if i not in set(picked)]
        copies += [plant(originals[i], kind, rng, captions) for i in picked]
    rows = [dict(r, planted=None, original=None) for r in originals] + copies
    rng.shuffle(rows)
    return rows


def ground_truth(rows: Iterable[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """copy id -> (original id, planted kind)."""
    return {r["id"]: (r["original"], r["planted"]) for r in rows if r.get("planted")}


def score(rows: list[dict[str, Any]], removed: set[str], kinds: Iterable[str] = KINDS) -> dict[str, Any]:
    """removed, precision, and recall per planted kind of a set of removed ids (see the module's doc)."""
    truth = ground_truth(rows)
    pair_of = {c: c for c in truth} | {o: c for c, (o, _) in truth.items()}
    caught: dict[str, int] = {}
    hits: set[str] = set()
    for rid in removed:
        pair = pair_of.get(rid)
        if pair is not None and pair not in hits:
            hits.add(pair)
    for copy, (_, kind) in truth.items():
        caught[kind] = caught.get(kind, 0) + (copy in hits)
    total = {k: sum(1 for _, kk in truth.values() if kk == k) for k in kinds}
    return {"removed": len(removed), "precision": len(hits) / len(removed) if removed else 1.0,
            "recall": {k: caught.get(k, 0) / total[k] if total[k] else None for k in kinds},
            "caught": {k: caught.get(k, 0) for k in kinds}, "planted": total,
            "false_positives": sorted(removed - {c for c in hits} - {truth[c][0] for c in hits})[:20]}


def sample_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The corpus as vlforge samples (source `pdf`, `image` as the schema holds it)."""
    out = []
    for r in rows:
        with Image.open(io.BytesIO(r["image"])) as im:
            w, h = im.size
        out.append({"id": r["id"], "source": "pdf", "kind": r["kind"], "image": {"bytes": r["image"], "path": None},
                    "width": w, "height": h, "text": r["text"], "keep": True})
    return out


def run_vlforge(rows: list[dict[str, Any]], config: Any = None, block: int = 256, sigs: Any = None) -> dict[str, Any]:
    """vlforge's dedup on the corpus, the build's code path in one process: the stage's signatures per
    batch, LSH keys per block of signatures, candidate pairs, the verified decision (the build shuffles
    the keys over Ray tasks; equal keys meet in one partition here). Returns removed ids, timings and the
    signatures (`sigs`: pass them back to try other settings of the global pass without signing again)."""
    import pyarrow as pa

    from filters.dedup.config import DedupConfig
    from filters.dedup.stage import Dedup
    from pipelines.schema import SIG_COL, SIG_SCHEMA, to_table

    stage = Dedup(config or DedupConfig())
    t0, c0 = time.perf_counter(), time.process_time()
    if sigs is None:
        samples = sample_rows(rows)
        t0, c0 = time.perf_counter(), time.process_time()
        signed = []
        for i in range(0, len(samples), 64):
            signed += [r for r in stage.process(to_table(samples[i:i + 64])).to_pylist() if r[SIG_COL] is not None]
        sigs = pa.Table.from_pylist([{"id": r["id"], "source": r["source"], "kind": r["kind"], **r[SIG_COL]}
                                     for r in signed], schema=SIG_SCHEMA)
        sigs = sigs.append_column("row", pa.array(range(sigs.num_rows), pa.int64()))
    t1, c1 = time.perf_counter(), time.process_time()
    keys = pa.concat_tables([stage.keys(sigs.slice(i, block)) for i in range(0, sigs.num_rows, block)])
    decisions = stage.resolve(sigs, stage.pairs(keys))
    t2, c2 = time.perf_counter(), time.process_time()
    drops = [d for d in decisions.to_pylist() if d["action"] == "drop"]
    sig_bytes = sum(len(v) for c in ("img_exact", "phash", "crop_phash") if c in sigs.column_names
                    for v in sigs.column(c).to_pylist() if v)
    return {"removed": {d["id"] for d in drops}, "methods": {d["id"]: d["method"] for d in drops},
            "seconds": t2 - t0, "sign_seconds": t1 - t0, "sign_cpu": c1 - c0, "global_seconds": t2 - t1,
            "global_cpu": c2 - c1, "image_sig_bytes": sig_bytes / max(1, sigs.num_rows), "sigs": sigs}


def cached_corpus(cache: Path, manuals: Path = MANUALS, per_kind: int = 70, seed: int = 0) -> list[dict[str, Any]]:
    """The corpus, built once and kept under `cache` (images as files, rows in rows.jsonl) for the
    peers, which read images from disk."""
    index = cache / f"images-{per_kind}-{seed}" / "rows.jsonl"
    if index.exists():
        rows = [json.loads(line) for line in index.read_text().splitlines()]
        for r in rows:
            r["image"] = (index.parent / r["path"]).read_bytes()
        return rows
    rows = build_corpus(manuals, per_kind, seed)
    folder = index.parent / "img"
    folder.mkdir(parents=True, exist_ok=True)
    with index.open("w") as f:
        for r in rows:
            ext = "jpg" if r["image"][:2] == b"\xff\xd8" else "png"
            path = f"img/{hashlib.sha1(r['id'].encode()).hexdigest()[:16]}.{ext}"
            (index.parent / path).write_bytes(r["image"])
            r["path"] = path
            f.write(json.dumps({k: v for k, v in r.items() if k != "image"} | {"path": path}) + "\n")
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--manuals", type=Path, default=MANUALS)
    ap.add_argument("--per-kind", type=int, default=70)
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "vlforge" / "peers" / "corpus")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    rows = cached_corpus(args.cache, args.manuals, args.per_kind)
    kinds = {k: sum(1 for r in rows if r["kind"] == k) for k in ("page", "tile", "figure")}
    print(f"corpus: {len(rows)} images {kinds}, {len(ground_truth(rows))} planted copies")
    got = run_vlforge(rows)
    result = score(rows, got["removed"])
    per = "  ".join(f"{k} {result['caught'][k]}/{result['planted'][k]}" for k in KINDS)
    print(f"vlforge: removed {result['removed']} precision {result['precision']:.3f}  {per}  "
          f"{got['seconds']:.1f} s ({got['sign_cpu'] / len(rows) * 1000:.1f} ms CPU an image to sign)")
    if args.json:
        args.json.write_text(json.dumps({"score": result, **{k: v for k, v in got.items() if k not in
                                                             ("removed", "methods")}}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
