"""Generate the text-quality classifier's training data: `python -m filters.data.make_quality_data [--seed N]`.

Good text is well-formed prose: paragraphs harvested from the Python standard library's docstrings (and the
language reference text the stdlib ships in `pydoc_data`), plus hand-written English and Chinese paragraphs on
everyday topics in `quality/written_*.txt`. Bad text is what a crawler or PDF extractor produces when it goes wrong:
web boilerplate and spam from templates (`spam.py`), and good paragraphs corrupted the ways extraction corrupts them
(`corrupt.py`).

Every row carries a `group`: the hash of the good paragraph it came from (or the spam template that made it), so
the train/held-out split keeps a corrupted copy of a held-out paragraph out of training. Output is deterministic for
a given seed and Python version (the docstrings are the interpreter's own).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import inspect
import io
import json
import pkgutil
import random
import re
import sys
import textwrap
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from filters.data.corrupt import corrupt
from filters.data.spam import spam_rows

OUT_DIR = Path(__file__).parent / "quality"
SEED = 0
MIN_CHARS, MAX_CHARS = 150, 1500

# Modules whose import has side effects (opens a browser, prints, starts Tk), huge test suites, and pydoc_data, whose
# text is read separately.
_SKIP_MODULES = {"antigravity", "this", "idlelib", "tkinter", "_tkinter", "turtle", "turtledemo", "test", "lib2to3",
                 "ensurepip", "__phello__", "__hello__", "pydoc_data"}
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
_CODE_LIKE = re.compile(r"[={}\[\]<>\\`@]|https?:|::|>>>")
_NOT_PROSE_START = (" ", "\t", ">>>", "...", "-", "*", ":", "|", "+", "#", "Note:")


def group_of(text: str) -> str:
    """Stable id of a good paragraph; rows derived from it share it so the split never separates them."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def _is_prose_block(lines: list[str]) -> bool:
    text = " ".join(line.strip() for line in lines)
    chars = [c for c in text if not c.isspace()]
    if not chars or any(line.startswith(_NOT_PROSE_START) for line in lines):
        return False
    return (sum(c.isalpha() for c in chars) / len(chars) >= 0.85 and not _CODE_LIKE.search(text)
            and bool(_SENTENCE_END.search(text)) and not text.endswith(":"))


def prose_paragraphs(doc: str) -> Iterator[str]:
    """Prose paragraphs of one docstring; adjacent short prose blocks are joined until they reach MIN_CHARS."""
    run: list[str] = []
    for block in re.split(r"\n\s*\n", doc):
        lines = textwrap.dedent(block).strip("\n").split("\n")
        if not _is_prose_block(lines):
            run = []
            continue
        run.append(" ".join(line.strip() for line in lines))
        text = " ".join(run)
        if len(text) >= MIN_CHARS:
            run = []
            if len(text) <= MAX_CHARS and len(_SENTENCE_END.findall(text)) >= 2:
                yield " ".join(text.split())


def _stdlib_modules() -> list:
    modules = []
    for name in sorted(sys.stdlib_module_names - _SKIP_MODULES):
        try:
            module = importlib.import_module(name)
        except BaseException:  # platform-specific modules (winreg, msvcrt) fail here, and a few raise oddly
            continue
        modules.append(module)
        for info in pkgutil.walk_packages(getattr(module, "__path__", []), name + "."):
            # A package's __main__ runs its program on import (unittest's would discover and run our tests).
            if _SKIP_MODULES.intersection(info.name.split(".")) or ".test" in info.name or "__main__" in info.name:
                continue
            with contextlib.suppress(BaseException):
                modules.append(importlib.import_module(info.name))
    return modules


def _documented_objects(module) -> Iterator[object]:
    yield module
    for _, value in sorted(vars(module).items()):
        if getattr(value, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(value) or inspect.isfunction(value) or inspect.isbuiltin(value):
            yield value
            if inspect.isclass(value):
                for _, member in sorted(vars(value).items()):
                    if inspect.isfunction(member) or inspect.ismethoddescriptor(member) or isinstance(member, property):
                        yield member


def harvest_stdlib() -> list[tuple[str, str]]:
    """(source, paragraph) for every prose paragraph in stdlib docstrings and the bundled language reference."""
    seen: set[str] = set()
    out: list[tuple[str, str]] = []

    def add(source: str, doc: str) -> None:
        for para in prose_paragraphs(doc):
            if para not in seen:
                seen.add(para)
                out.append((source, para))

    quiet = contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO())
    with warnings.catch_warnings(), quiet[0], quiet[1]:
        warnings.simplefilter("ignore")
        for module in _stdlib_modules():
            for obj in _documented_objects(module):
                try:
                    doc = obj.__doc__
                except Exception:
                    continue
                if isinstance(doc, str) and doc:
                    add("stdlib-doc", inspect.cleandoc(doc))
        from pydoc_data.topics import topics

        for _, text in sorted(topics.items()):
            add("pydoc-topics", text)
    return out


def written(lang: str) -> list[str]:
    """The hand-written paragraphs (one per line) that keep good text from being all programming prose."""
    path = OUT_DIR / f"written_{lang}.txt"
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def build(seed: int = SEED) -> tuple[list[dict], list[dict]]:
    """(good rows, bad rows), each row {"text", "source", "group"}."""
    rng = random.Random(seed)
    good_src = harvest_stdlib()
    good_src += [("written-en", p) for p in written("en")]
    good_src += [("written-zh", p) for p in written("zh")]
    good = [{"text": text, "source": source, "group": group_of(text)} for source, text in good_src]

    # Every good paragraph also appears once, corrupted, as bad: the pair differs only in the damage, which is what
    # the classifier should learn (and both halves of a pair fall on the same side of the split).
    bad: list[dict] = []
    for row in good:
        kind, text = corrupt(row["text"], "zh" if row["source"] == "written-zh" else "en", rng)
        bad.append({"text": text, "source": f"corrupt-{kind}", "group": row["group"]})
    bad += spam_rows(rng)
    return good, bad


# Mojibake is full of C1 controls such as U+0085 (NEL); str.splitlines() and some tools break lines there.
_LINE_BREAKERS = re.compile("[\x7f-\x9f\u2028\u2029]")


def write_jsonl(path: Path, rows: list[dict]) -> None:
    """One JSON object per line, UTF-8, non-ASCII kept readable except characters some readers take as line ends."""
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            line = _LINE_BREAKERS.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(row, ensure_ascii=False))
            f.write(line + "\n")


def main(argv: list[str] | None = None) -> int:
    """CLI entry: regenerate good.jsonl and bad.jsonl and print what went into them."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    good, bad = build(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    write_jsonl(args.out / "good.jsonl", good)
    write_jsonl(args.out / "bad.jsonl", bad)
    for name, rows in (("good", good), ("bad", bad)):
        size = (args.out / f"{name}.jsonl").stat().st_size
        print(f"{name}: {len(rows)} rows, {size / 1e6:.2f} MB")
        for source, n in sorted(Counter(r["source"] for r in rows).items()):
            print(f"  {source:24s} {n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
