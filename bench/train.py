"""Benchmark the reference trainer: is the data loader or the model step the bottleneck?

    python bench/train.py [--data OUT ...] [--stage 1 2] [--steps 40] [--batch-size 8] [--workers 0 1 2]

For each stage, on the same batches (each step's batch depends only on seed, stage and step):

- raw: the same rows read in a plain loop with pyarrow, decoded and resized with Pillow and
  tokenized with `tokenizers`, no torch (what the loader's work costs without the loader);
- loader: model_ref's loader alone (shard index, row reads, image decode, sequences, collation),
  in this process and with 1..N worker processes, the image cache off (every image decoded);
- model: the training step alone (forward, backward, clip, AdamW) on batches already in memory;
- together: the training loop as `python -m model_ref.train` runs it (loader workers feeding steps).

The loader is not the bottleneck when its samples/s with the trainer's default workers exceeds the
model's, and `together` then runs at the model's speed. Without `--data`, the bench writes shards
of real inputs first: pages of the embedded PDF corpus rendered with PyMuPDF at the pipeline's dpi
(with their text layer as text-only rows too) and charts drawn by the chart source.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model_ref import train as trainer  # noqa: E402
from model_ref.data.loader import make_loader  # noqa: E402
from model_ref.schedule.stages import STAGES, apply_stage  # noqa: E402


def write_bench_shards(out: Path, copies: int, charts: int, dpi: int = 144) -> Path:
    """Real inputs in the shard schema: rendered corpus pages (+ their text alone) and synthetic charts."""
    import pymupdf

    from pipelines.schema import SAMPLE_SCHEMA, image_value, sample_id, to_table
    from sources.chart.synth import chart_sample
    from sources.corpus.make import make

    corpus = out / "pdfs"
    corpus.mkdir(parents=True, exist_ok=True)
    rows = []
    for path in make(corpus, copies=copies):
        with pymupdf.open(path) as doc:
            for page in doc:
                png = page.get_pixmap(dpi=dpi).tobytes("png")
                text = page.get_text()
                loc = f"page={page.number + 1}"
                rows.append({"id": sample_id("pdf", str(path), loc, png), "source": "pdf", "kind": "page",
                             "uri": str(path), "locator": loc, "image": image_value(png), "text": text,
                             "width": int(page.rect.width * dpi / 72), "height": int(page.rect.height * dpi / 72),
                             "keep": True, "messages": [{"role": "user", "content": "<image>\nTranscribe this page."},
                                                        {"role": "assistant", "content": text}]})
                rows.append({"id": sample_id("pdf", str(path), loc, text), "source": "pdf", "kind": "text",
                             "uri": str(path), "locator": loc, "text": text, "keep": True})
    rows += [{**chart_sample(seed), "id": f"chart-{seed}", "keep": True} for seed in range(charts)]
    (out / "shards").mkdir(exist_ok=True)
    half = len(rows) * 7 // 8
    rows = sorted(rows, key=lambda r: r["id"])
    pq.write_table(to_table(rows[:half], SAMPLE_SCHEMA), out / "shards" / "part-00000.parquet", row_group_size=64)
    pq.write_table(to_table(rows[half:], SAMPLE_SCHEMA), out / "shards" / "part-00001.parquet", row_group_size=64)
    return out


def raw_loop(run: trainer.Run, batches, steps: int) -> float:
    """samples/s of pyarrow + Pillow + tokenizers doing the loader's work for the same rows."""
    size, files = run.cfg.image_size, run.index.files
    t = time.perf_counter()
    n = 0
    tables: dict[tuple[int, int], object] = {}
    for step in range(steps):
        modality = batches.modality(step)
        order = batches.orders[modality]
        start = int(batches.before[step]) * batches.batch_size
        for position in range(start, start + batches.batch_size):
            f, g, r = order.at(position)
            table = tables.get((f, g))
            if table is None:
                pf = pq.ParquetFile(files[f])
                columns = [c for c in ("image", "images", "text") if c in pf.schema_arrow.names]
                table = tables[(f, g)] = pf.read_row_group(g, columns=columns)
            row = table.slice(r, 1).to_pylist()[0]
            if modality == "multimodal":
                images = [row["image"]]
            elif modality == "interleaved":  # every image of the document, up to the trainer's cap
                images = (row.get("images") or [])[:run.args.max_images]
            else:
                images = []
            for image in images:
                with Image.open(io.BytesIO(image["bytes"])) as im:
                    im.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
            for part in (row["text"] or "").split("\n\n<image>\n\n"):  # the text between the images
                run.tokenizer.tok.encode(part)
            n += 1
    return n / (time.perf_counter() - t)


def loader_alone(batches, steps: int, workers: int) -> float:
    loader = make_loader(batches, 0, workers)
    t = time.perf_counter()
    n = 0
    for i, batch in enumerate(loader):
        n += batch["samples"]
        if i + 1 == steps:
            break
    return n / (time.perf_counter() - t)


def model_alone(run: trainer.Run, stage, batches, steps: int) -> float:
    data = [batches[i] for i in range(steps)]
    trained = apply_stage(run.model, stage)
    opt = torch.optim.AdamW(trained, lr=1e-4, betas=(0.9, 0.95), weight_decay=0.0)
    trainer.train_step(run.model, opt, trained, data[0], run.device)  # warm-up (allocator, kernels)
    t = time.perf_counter()
    n = 0
    for batch in data:
        trainer.train_step(run.model, opt, trained, batch, run.device)
        n += batch["samples"]
    return n / (time.perf_counter() - t)


def together(run: trainer.Run, stage, batches, steps: int, workers: int) -> float:
    trained = apply_stage(run.model, stage)
    opt = torch.optim.AdamW(trained, lr=1e-4, betas=(0.9, 0.95), weight_decay=0.0)
    t = time.perf_counter()
    n = 0
    for batch in make_loader(batches, 0, workers):
        trainer.train_step(run.model, opt, trained, batch, run.device)
        n += batch["samples"]
    return n / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", action="append", type=Path, default=None)
    p.add_argument("--stage", type=int, nargs="+", default=[1, 2])
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--copies", type=int, default=8, help="copies of the corpus to render (6 pages each)")
    p.add_argument("--charts", type=int, default=96)
    p.add_argument("--config", default="tiny")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="vlf-bench-train-"))
    data = args.data
    if not data:
        t = time.perf_counter()
        data = [write_bench_shards(tmp / "data", args.copies, args.charts)]
        print(f"bench shards: {args.copies * 6} rendered pages, their texts, {args.charts} charts "
              f"({time.perf_counter() - t:.1f}s to make)")
    default = trainer.default_workers(None)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; trainer's default loader workers: {default}")
    for number in args.stage:
        stage = STAGES[number]
        targs = trainer.parse_args([*(x for d in data for x in ("--data", str(d))), "--stage", str(number),
                                    "--steps", str(args.steps), "--batch-size", str(args.batch_size),
                                    "--config", args.config, "--out", str(tmp / f"out{number}")])
        run = trainer.prepare(targs)
        batches = trainer.stage_batches(run, stage)
        batches.maker.image_cache_bytes = 0  # decode every image, as a first epoch over a large corpus does
        mm = sum(1 for i in range(args.steps) if batches.modality(i) == "multimodal") / args.steps
        print(f"\nstage {number} ({stage.name}): {args.steps} steps of {args.batch_size}, "
              f"{mm:.0%} multimodal steps, image {run.cfg.image_size}px, model {run.cfg.name}")
        raw = raw_loop(run, batches, args.steps)
        print(f"  raw pyarrow+Pillow+tokenizers loop  {raw:8.1f} samples/s")
        loaders = {}
        for w in args.workers:
            loaders[w] = loader_alone(batches, args.steps, w)
            print(f"  loader alone, {w} worker(s)          {loaders[w]:8.1f} samples/s"
                  + (f"   ({loaders[w] / raw:.2f}x raw)" if w == 0 else ""))
        model = model_alone(run, stage, batches, args.steps)
        print(f"  model step alone                    {model:8.1f} samples/s")
        for w in sorted({0, default}):
            both = together(run, stage, batches, args.steps, w)
            print(f"  together, {w} worker(s)              {both:8.1f} samples/s   ({both / model:.2f}x model alone)")
        best = loaders.get(default, max(loaders.values()))
        verdict = "the model step" if best > model else "THE LOADER"
        print(f"  loader/model = {best / model:.2f}x with {default} worker(s): the bottleneck is {verdict}")


if __name__ == "__main__":
    main()
