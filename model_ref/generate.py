"""Ask a trained checkpoint about an image.

    python -m model_ref.generate --ckpt ckpt/ --image page.png --prompt "What does this page say?"

The image goes through the same preprocessing as in training (long side resized, padded square),
the prompt becomes a user turn as in stage 3 (`<bos> <|user|> <image>... question <|assistant|>`),
and the answer is decoded greedily (or sampled with `--temperature`) until `<eos>` or the limit.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from model_ref.checkpoint import find_checkpoint, load_model_weights
from model_ref.config import ModelConfig
from model_ref.data.images import load_square
from model_ref.data.sequences import SequenceBuilder
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
    def answer(self, prompt: str, image: Path | None = None, max_new_tokens: int = 64, temperature: float = 0.0,
               seed: int = 0) -> str:
        """The model's answer to `prompt` about `image` (None: a text-only question)."""
        ids = self.builder.prompt(prompt, with_image=image is not None)
        images = None
        if image is not None:
            images = torch.from_numpy(load_square(str(image), self.cfg.image_size)).unsqueeze(0).to(self.device)
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model_ref.generate", description=__doc__.split("\n")[0])
    p.add_argument("--ckpt", type=Path, required=True, help="a training --out folder or its checkpoint/")
    p.add_argument("--image", type=Path, default=None, help="an image file (PNG, JPEG, ...); omit for text only")
    p.add_argument("--prompt", required=True)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--temperature", type=float, default=0.0, help="0: greedy")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)
    if args.image is not None and not args.image.is_file():
        print(f"error: no image at {args.image}", file=sys.stderr)
        return 2
    try:
        gen = Generator(args.ckpt, args.device)
        text = gen.answer(args.prompt, args.image, args.max_new_tokens, args.temperature, args.seed)
    except (ValueError, FileNotFoundError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
