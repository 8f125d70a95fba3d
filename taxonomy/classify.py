"""Tag requests with use-case categories: `python -m taxonomy.classify [--k N] [--model PATH] < in.jsonl > out.jsonl`.

Each input line is a JSON object with a "text" field; each output line is that object plus "tags" (subcategory ids,
most likely first), "scores" (their calibrated probabilities), "categories" and "category_scores" (top-level ids with
the summed probability of their subcategories), k of each. Blank lines are skipped. A line that is not such an object
stops the run with exit status 2 and its line number on stderr (lines of earlier batches are already written).
The model is `taxonomy/models/requests.bin`, trained first (a few seconds) if missing or out of date.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from taxonomy.classifier import DEFAULT_MODEL_PATH, RequestClassifier, is_current, load_or_train

BATCH = 1000


class InputError(ValueError):
    """A line of input that cannot be classified; the message names the line."""


def read_requests(lines: Iterable[str | bytes]) -> Iterator[list[dict]]:
    """Batches of parsed request objects; raises InputError at the first bad line. Bytes are read as UTF-8."""
    batch = []
    for n, line in enumerate(lines, 1):
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InputError(f"line {n}: not UTF-8 ({e})") from None
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"line {n}: not valid JSON ({e})") from None
        if not isinstance(row, dict):
            raise InputError(f"line {n}: expected a JSON object with a \"text\" field, got {type(row).__name__}")
        if not isinstance(row.get("text"), str):
            raise InputError(f"line {n}: missing \"text\" string field")
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def tag(model: RequestClassifier, rows: list[dict], k: int) -> list[dict]:
    """The rows with their top-k subcategories and categories added."""
    texts = [row["text"] for row in rows]
    out = []
    for row, subs, cats in zip(rows, model.predict(texts, k), model.categories(texts, k), strict=True):
        out.append({**row, "tags": [s for s, _ in subs], "scores": [round(p, 4) for _, p in subs],
                    "categories": [c for c, _ in cats], "category_scores": [round(p, 4) for _, p in cats]})
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI entry: read JSON lines on stdin, write tagged JSON lines on stdout."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--k", type=int, default=3, help="how many subcategories and categories to keep (default 3)")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH, help="the trained classifier")
    args = parser.parse_args(argv)
    if args.k < 1:
        parser.error("--k must be at least 1")

    if not is_current(args.model):
        print(f"training the request classifier into {args.model} (a few seconds)", file=sys.stderr)
    model = load_or_train(args.model)
    try:
        # Bytes in, UTF-8 out: Chinese requests must not depend on the terminal's locale.
        for batch in read_requests(sys.stdin.buffer):
            for row in tag(model, batch, args.k):
                sys.stdout.buffer.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
            sys.stdout.buffer.flush()
    except InputError as e:
        print(f"taxonomy.classify: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
