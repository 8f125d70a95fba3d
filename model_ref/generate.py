"""Ask a trained checkpoint about an image, or measure how well it grounds.

    python -m model_ref.generate --ckpt ckpt/ --image page.png --prompt "What does this page say?"
    python -m model_ref.generate --ckpt ckpt/ --task grounding --data out/pdf [--limit 100] [--json g.json]

The image goes through the same preprocessing as in training (long side resized, padded square),
the prompt becomes a user turn as in stage 3 (`<bos> <|user|> <image>... question <|assistant|>`),
and the answer is decoded greedily (or sampled with `--temperature`) until `<eos>` or the limit.
`--task grounding` asks the grounding questions of the held-out rows of `--data` (the rows training
never used: see model_ref.data.shards), parses the boxes of each answer and prints the mean IoU
against the shard's boxes and the share of turns with IoU >= 0.5 (model_ref.grounding).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from model_ref.checkpoint import find_checkpoint, load_model_weights
from model_ref.config import ModelConfig
from model_ref.data.images import decode_square, load_square
from model_ref.data.sequences import SequenceBuilder
from model_ref.data.shards import RowReader, build_index
from model_ref.grounding import evaluate
from model_ref.model import VLModel, build_model
from model_ref.tokenizer import EOS_ID, TextTokenizer
from model_ref.train import pick_device


class Generator:
    """A checkpoint loaded for inference: prompt (and image) in, answer text out."""

    def __init__(self, ckpt: Path, device: str = "auto") -> None:
        found = find_checkpoint(ckpt)
        if found is None:
            raise FileNotFoundError(f"no model_ref checkpoint at {ckpt} (train one with python -m model_ref.train)")
        self.device = pick_device(device)
        self.cfg = ModelConfig.load(found / "config.json")
        self.tokenizer = TextTokenizer.load(found)
        self.model: VLModel = build_model(self.cfg, "cpu")
        load_model_weights(self.model, found)
        self.model.to(self.device).eval()
        self.builder = SequenceBuilder(self.tokenizer, self.cfg.image_tokens, self.cfg.lm.max_seq_len)

    @torch.no_grad()
    def answer(self, prompt: str, image: Path | bytes | None = None, max_new_tokens: int = 64,
               temperature: float = 0.0, seed: int = 0) -> str:
        """The model's answer to `prompt` about `image` (a file, or encoded bytes; None: a text-only question)."""
        ids = self.builder.prompt(prompt, with_image=image is not None)
        images = None
        if image is not None:
            square = decode_square(image, self.cfg.image_size) if isinstance(image, bytes) else \
                load_square(str(image), self.cfg.image_size)
            images = torch.from_numpy(square).unsqueeze(0).to(self.device)
        input_ids = torch.tensor([ids], device=self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            embeds = self.model.embed(input_ids, images)
            generator = torch.Generator(device=self.device).manual_seed(seed)
            out: list[int] = []
            room = self.cfg.lm.max_seq_len - embeds.shape[1]
            for _ in range(max(0, min(max_new_tokens, room))):
                logits = self.model.lm(embeds)[0, -1].float()
                if temperature > 0:
                    token = int(torch.multinomial(torch.softmax(logits / temperature, -1), 1, generator=generator))
                else:
                    token = int(logits.argmax())
                if token == EOS_ID:
                    break
                out.append(token)
                step = self.model.lm.embed(torch.tensor([[token]], device=self.device))
                embeds = torch.cat([embeds, step.to(embeds.dtype)], dim=1)
        return self.tokenizer.decode(out)


def heldout_rows(data: list[Path]) -> Iterator[dict[str, Any]]:
    """The held-out rows with an image and messages, in index order (all such rows when none is held out)."""
    index = build_index(data)
    locs = index.heldout["sft_image"] if len(index.heldout["sft_image"]) else index.train["sft_image"]
    reader = RowReader(index.files)
    for file, group, row in locs:
        yield reader.row(int(file), int(group), int(row))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model_ref.generate", description=__doc__.split("\n")[0])
    p.add_argument("--ckpt", type=Path, required=True, help="a training --out folder or its checkpoint/")
    p.add_argument("--task", choices=("ask", "grounding"), default="ask",
                   help="ask: answer --prompt; grounding: measure the boxes of --data's grounding questions")
    p.add_argument("--image", type=Path, default=None, help="an image file (PNG, JPEG, ...); omit for text only")
    p.add_argument("--prompt", help="the question (--task ask)")
    p.add_argument("--data", type=Path, action="append", help="--task grounding: a vlforge output (repeatable)")
    p.add_argument("--limit", type=int, default=100, help="--task grounding: questions asked at most")
    p.add_argument("--json", type=Path, help="--task grounding: write the report (with examples) here")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--temperature", type=float, default=0.0, help="0: greedy")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)
    if args.task == "ask" and not args.prompt:
        print("error: --prompt is required (or --task grounding --data OUT)", file=sys.stderr)
        return 2
    if args.task == "grounding" and not args.data:
        print("error: --task grounding needs --data (a vlforge output folder)", file=sys.stderr)
        return 2
    if args.image is not None and not args.image.is_file():
        print(f"error: no image at {args.image}", file=sys.stderr)
        return 2
    try:
        gen = Generator(args.ckpt, args.device)
        if args.task == "grounding":
            report = evaluate(heldout_rows(args.data), lambda q, image: gen.answer(
                q, image, args.max_new_tokens, args.temperature, args.seed), args.limit)
        else:
            text = gen.answer(args.prompt, args.image, args.max_new_tokens, args.temperature, args.seed)
    except (ValueError, FileNotFoundError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.task == "ask":
        print(text)
        return 0
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    iou = "-" if report["mean_iou"] is None else f"{report['mean_iou']:.3f}"
    hits = "-" if report["hit_rate"] is None else f"{report['hit_rate']:.3f}"
    print(f"grounding: {report['turns']} questions, {report['parsed']} answers with boxes, mean IoU {iou}, "
          f"IoU >= {report['hit_iou']}: {hits}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
