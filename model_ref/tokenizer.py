"""The project's own tokenizer: byte-level BPE trained with `tokenizers` on the shards' text.

Byte-level means every string (English, Chinese, code, CSV) encodes without unknown tokens. The
special tokens come first so their ids are fixed whatever the corpus: the model and the sequence
builder use the constants below, and a loaded tokenizer that disagrees is refused. DeepSeek-VL2's
grounding markers (`<|ref|>`, `<|/ref|>`, `<|det|>`, `<|/det|>`, in the shards' grounding turns) are
single tokens too, so a box is always framed the same way; unlike the control tokens, `decode`
keeps them, since they are part of an answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

PAD, BOS, EOS, IMAGE, USER, ASSISTANT = "<pad>", "<bos>", "<eos>", "<image>", "<|user|>", "<|assistant|>"
REF, REF_END, DET, DET_END = "<|ref|>", "<|/ref|>", "<|det|>", "<|/det|>"
GROUNDING = (REF, REF_END, DET, DET_END)
SPECIALS = (PAD, BOS, EOS, IMAGE, USER, ASSISTANT, *GROUNDING)
PAD_ID, BOS_ID, EOS_ID, IMAGE_ID, USER_ID, ASSISTANT_ID, REF_ID, REF_END_ID, DET_ID, DET_END_ID = range(len(SPECIALS))
GROUNDING_IDS = {REF_ID: REF, REF_END_ID: REF_END, DET_ID: DET, DET_END_ID: DET_END}
FILE = "tokenizer.json"


class TextTokenizer:
    """Encode and decode text; `<image>` and the role markers inside text map to their special ids."""

    def __init__(self, tok: Tokenizer) -> None:
        for i, name in enumerate(SPECIALS):
            if tok.token_to_id(name) != i:
                if name in GROUNDING and all(tok.token_to_id(n) == j for j, n in enumerate(SPECIALS[:REF_ID])):
                    raise ValueError(f"tokenizer has no {name} token (id {i}): it predates the grounding tokens; "
                                     "train a new one (python -m model_ref.train without --tokenizer)")
                raise ValueError(f"tokenizer does not map {name} to id {i}: it was not made by model_ref.tokenizer")
        self.tok = tok

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 4096, min_frequency: int = 2) -> TextTokenizer:
        """Learn BPE merges from `texts` (at most `vocab_size` tokens, specials and 256 bytes included)."""
        tok = Tokenizer(models.BPE())
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                      special_tokens=list(SPECIALS), show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tok.train_from_iterator(texts, trainer=trainer)
        return cls(tok)

    @classmethod
    def load(cls, path: Path) -> TextTokenizer:
        """From a tokenizer.json file, or a folder (a checkpoint) that holds one."""
        path = Path(path)
        return cls(Tokenizer.from_file(str(path / FILE if path.is_dir() else path)))

    def save(self, path: Path) -> None:
        path = Path(path)
        self.tok.save(str(path / FILE if path.is_dir() else path))

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tok.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: list[int]) -> str:
        """The text of `ids`: control tokens (padding, turn markers, image) dropped, grounding markers kept."""
        parts, run = [], []
        for i in ids:
            if i in GROUNDING_IDS:
                parts += [self.tok.decode(run, skip_special_tokens=True), GROUNDING_IDS[i]]
                run = []
            else:
                run.append(i)
        parts.append(self.tok.decode(run, skip_special_tokens=True))
        return "".join(parts)
