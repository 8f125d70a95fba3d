"""Benchmark the filter chain and global dedup on synthetic samples, at two sizes.

    python bench/filters.py [--sizes 10000 100000] [--image-share 0.2] [--dup-share 0.1]

Synthetic samples: texts made of sentences drawn from the shipped prose data, and 256x256 PNG
pictures of shapes and words; a share of them are planted copies (exact, a re-encoded picture,
a text with one word changed), so the benchmark also reports what dedup found.

For each size it prints:
- the pipeline (synthetic source -> PII, image, language, text, agreement, quality filters ->
  dedup signatures -> shards, then the global dedup pass) in samples/s on a local Ray,
- the same work in a plain loop in this process (the same generation, filter chain, dedup
  signatures, Parquet writing and dedup decision, no Ray, one core), and their ratio (pipeline /
  loop; run with --num-cpus 1 for equal parallelism, 2 for the scaling),
- the global pass alone, and a raw-library dedup baseline on the same samples: datasketch's
  MinHash + MinHashLSH insert/query over the texts and imagehash's pHash over the pictures,
- how time grows from the smaller to the larger size (near-linear expected: 10x samples ~ 10x time).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines import ray_env  # noqa: E402
from pipelines.config import Config, to_dict  # noqa: E402
from pipelines.recipes import dedup, quality_filters  # noqa: E402
from pipelines.runner import Pipeline, RunOptions, run  # noqa: E402
from pipelines.schema import SAMPLE_SCHEMA, SIG_COL, image_value, sample_id, to_table  # noqa: E402
from pipelines.stage import Source, Unit  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "filters" / "data" / "quality" / "good.jsonl"
PER_UNIT = 500


def sentences() -> list[str]:
    out = []
    for line in DATA.read_text().splitlines():
        text = json.loads(line)["text"]
        out.extend(s.strip() + "." for s in text.split(". ") if len(s.split()) >= 6 and s.isascii())
    return out


class SyntheticSource(Source):
    """Deterministic synthetic samples: unit k makes samples k*PER_UNIT .. (k+1)*PER_UNIT-1."""

    name = "synthetic"
    version = "1"
    item_name = "samples"

    def __init__(self, total: int, image_share: float, dup_share: float):
        self.total, self.image_share, self.dup_share = total, image_share, dup_share
        self._sentences: list[str] | None = None

    def plan(self, inputs: Sequence[str], limit: int | None = None) -> list[Unit]:
        return [Unit(f"synthetic#{s}", "synthetic://", min(PER_UNIT, self.total - s), {"start": s})
                for s in range(0, self.total, PER_UNIT)]

    def expand(self, unit: Unit) -> Iterable[dict[str, Any]]:
        if self._sentences is None:
            self._sentences = sentences()
        start = unit.params["start"]
        for i in range(start, start + unit.size):
            yield make_sample(i, self._sentences, self.image_share, self.dup_share)


def make_sample(i: int, pool: list[str], image_share: float, dup_share: float) -> dict[str, Any]:
    """Sample i; a planted duplicate (about dup_share of them) copies sample i // 2 in some way."""
    rng = random.Random(i)
    planted = i > 10 and rng.random() < dup_share
    base = i // 2 if planted else i
    is_image = random.Random(base * 7 + 1).random() < image_share
    loc = f"s{i}"
    if is_image:
        data, w, h = picture(base, reencode=planted and i % 2 == 1)
        return {"id": sample_id("synthetic", "synthetic://", loc), "source": "synthetic", "kind": "figure",
                "uri": "synthetic://", "locator": loc, "image": image_value(data), "width": w, "height": h}
    text = paragraph(base, pool)
    if planted and i % 2 == 1:
        words = text.split()
        words[len(words) // 2] = "changed"
        text = " ".join(words)
    return {"id": sample_id("synthetic", "synthetic://", loc), "source": "synthetic", "kind": "text",
            "uri": "synthetic://", "locator": loc, "text": text}


def planted(total: int, dup_share: float) -> int:
    """How many samples make_sample plants as copies of a sample that shows its own content (a copy of
    a copy shows content no other sample has, so it is no duplicate)."""
    def is_copy(i: int) -> bool:
        return i > 10 and random.Random(i).random() < dup_share

    return sum(1 for i in range(11, total) if is_copy(i) and not is_copy(i // 2))


def paragraph(seed: int, pool: list[str]) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(pool) for _ in range(rng.randint(4, 8)))


def picture(seed: int, reencode: bool = False) -> tuple[bytes, int, int]:
    rng = random.Random(seed)
    im = Image.new("RGB", (256, 256), tuple(rng.randint(200, 255) for _ in range(3)))
    d = ImageDraw.Draw(im)
    for _ in range(8):
        x, y = rng.randint(0, 200), rng.randint(0, 200)
        d.rectangle((x, y, x + rng.randint(10, 60), y + rng.randint(10, 60)),
                    fill=tuple(rng.randint(0, 180) for _ in range(3)))
    d.text((10, 230), f"figure {seed}", fill="black")
    buf = io.BytesIO()
    if reencode:
        im.save(buf, "JPEG", quality=92)
    else:
        im.save(buf, "PNG")
    return buf.getvalue(), 256, 256


def plain_chain(source: SyntheticSource, stages, dedup_stage) -> float:
    """The pipeline's work without Ray, in this process: generate, filter, sign, write Parquet, then
    the global dedup decision (keys, pairs, resolve) on the collected signatures."""
    out = Path(tempfile.mkdtemp(prefix="vlf-bench-loop-"))
    for s in stages:
        s.preflight()
        s.setup()
    t = time.perf_counter()
    n = 0
    sigs = []
    for k, unit in enumerate(source.plan([])):
        batch = to_table(list(source.expand(unit)))
        for s in stages:
            size = s.resources.batch_size
            batch = pa.concat_tables([s.process(batch.slice(i, size)) for i in range(0, batch.num_rows, size)])
        kept = batch.filter(pc.fill_null(batch.column("keep"), True))
        pq.write_table(kept.select(SAMPLE_SCHEMA.names), out / f"part-{k}.parquet", compression="zstd")
        signed = kept.filter(pc.is_valid(kept.column(SIG_COL)))
        sig = signed.column(SIG_COL).combine_chunks()
        sigs.append(pa.table({"id": signed.column("id"), "source": signed.column("source"),
                              "kind": signed.column("kind"), **{f.name: sig.field(f.name) for f in sig.type}}))
        n += batch.num_rows
    table = pa.concat_tables(sigs)
    table = table.append_column("row", pa.array(range(table.num_rows), pa.int64()))
    dedup_stage.resolve(table, dedup_stage.pairs(dedup_stage.keys(table)))
    return n / (time.perf_counter() - t)


def raw_dedup(source: SyntheticSource, cfg) -> tuple[float, int]:
    """datasketch MinHash+LSH over the texts, imagehash pHash (exact-match buckets) over the pictures."""
    import imagehash
    from datasketch import MinHash, MinHashLSH

    from filters.dedup.signatures import shingles

    lsh = MinHashLSH(threshold=cfg.text_threshold, num_perm=cfg.num_perm)
    seen_hash: dict[str, str] = {}
    found = 0
    t = time.perf_counter()
    n = 0
    for unit in source.plan([]):
        for row in source.expand(unit):
            n += 1
            if row["kind"] == "text":
                m = MinHash(num_perm=cfg.num_perm)
                m.update_batch(list(shingles(row["text"], cfg.shingle_size)))
                if lsh.query(m):
                    found += 1
                lsh.insert(row["id"], m)
            else:
                with Image.open(io.BytesIO(row["image"]["bytes"])) as im:
                    key = str(imagehash.phash(im.convert("RGB"), hash_size=16))
                    hashlib.blake2b(im.tobytes()).digest()
                found += key in seen_hash
                seen_hash.setdefault(key, row["id"])
    return n / (time.perf_counter() - t), found


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--image-share", type=float, default=0.2)
    p.add_argument("--dup-share", type=float, default=0.1)
    p.add_argument("--num-cpus", type=int, default=2)
    p.add_argument("--warmup", type=int, default=2000, help="samples of an untimed first run")
    args = p.parse_args()
    cfg = Config()
    ray_env.connect(None, args.num_cpus)
    # One small run first, so Ray's worker processes have imported the libraries and loaded the
    # models (a fixed ~5 s, paid once per worker per session) before the timed runs, as the plain
    # loop's process has.
    warm = SyntheticSource(args.warmup, args.image_share, args.dup_share)
    run(Pipeline(warm, [*quality_filters(cfg), *dedup(cfg)]),
        RunOptions(out=Path(tempfile.mkdtemp(prefix="vlf-bench-warm-")), fingerprint="warm", config=to_dict(cfg)))
    rows = []
    for size in args.sizes:
        source = SyntheticSource(size, args.image_share, args.dup_share)
        out = Path(tempfile.mkdtemp(prefix="vlf-bench-filters-"))
        opts = RunOptions(out=out, fingerprint=f"bench-{size}", config=to_dict(cfg), shard_rows=5000)
        result = run(Pipeline(source, [*quality_filters(cfg), *dedup(cfg)]), opts)
        d = result.stats["dedup"]
        pipe = size / result.work_seconds
        stages = [*quality_filters(cfg), *dedup(cfg)]
        loop = plain_chain(source, stages, stages[-1])
        raw, raw_found = raw_dedup(source, cfg.dedup)
        rows.append((size, pipe, loop, result.work_seconds, d["seconds"], d, raw, raw_found,
                     result.stats["dropped"] - d["duplicates"]))
        print(f"\n{size} samples: pipeline {pipe:.0f} samples/s ({result.work_seconds:.1f} s, global pass "
              f"{d['seconds']:.1f} s); plain loop {loop:.0f} samples/s; ratio {pipe / loop:.2f} "
              f"(pipeline on {args.num_cpus} CPU(s), loop on 1)", flush=True)
        print(f"  planted copies {planted(size, args.dup_share)}; duplicates found {d['duplicates']} {d['by_method']}; "
              f"raw datasketch+imagehash found {raw_found} "
              f"at {raw:.0f} samples/s; filter drops {rows[-1][-1]}", flush=True)
    print("\nsize      pipeline/s  loop/s  ratio  run s   pass s  dups   raw dedup/s")
    for size, pipe, loop, secs, pass_s, d, raw, _, _ in rows:
        print(f"{size:<9} {pipe:>10.0f} {loop:>7.0f} {pipe / loop:>6.2f} {secs:>6.1f} {pass_s:>7.2f} "
              f"{d['duplicates']:>5} {raw:>10.0f}")
    if len(rows) >= 2:
        (s0, _, _, t0, p0, *_), (s1, _, _, t1, p1, *_) = rows[0], rows[-1]
        print(f"\ngrowth {s0} -> {s1} samples ({s1 / s0:.0f}x): run time x{t1 / t0:.1f}, "
              f"global pass x{p1 / max(p0, 1e-9):.1f}")


if __name__ == "__main__":
    main()
