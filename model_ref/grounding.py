"""Grounding as the shards write it, read back and scored: the `--task grounding` eval of `model_ref.generate`.

A grounding answer names a thing and where it is, DeepSeek-VL2's way:
`<|ref|>text<|/ref|><|det|>[[x1, y1, x2, y2], …]<|/det|>`, integers on a 0-999 scale of the image's
width and height. model_ref knows only the shard format, so it reads that format here. A turn is
scored by matching the predicted boxes to the reference boxes one to one (best IoU first): its IoU
is the matched IoUs summed over the larger of the two counts (a missing or an extra box costs), and
it is a hit when every reference box has a predicted box of IoU >= 0.5 and no box is extra.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

SCALE = 999
HIT_IOU = 0.5
_DET = re.compile(r"<\|det\|>(.*?)<\|/det\|>", re.S)
_BOX = re.compile(r"\[\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\]")

Box = tuple[int, int, int, int]


def boxes_in(text: str) -> list[Box] | None:
    """The boxes of the first `<|det|>` group of `text` that are sound (on the scale, x0 < x1, y0 < y1);
    None when `text` has no `<|det|>` group."""
    m = _DET.search(text or "")
    if m is None:
        return None
    found = [tuple(int(v) for v in b.groups()) for b in _BOX.finditer(m.group(1))]
    return [b for b in found if b[0] < b[2] <= SCALE and b[1] < b[3] <= SCALE]  # type: ignore[misc]


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, w) * max(0.0, h)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def score(predicted: Sequence[Box], reference: Sequence[Box]) -> tuple[float, bool]:
    """(IoU of the turn, whether it is a hit): boxes matched one to one, best pairs first."""
    pairs = sorted(((iou(p, r), i, j) for i, p in enumerate(predicted) for j, r in enumerate(reference)),
                   reverse=True)
    used_p, used_r, matched = set(), set(), []
    for value, i, j in pairs:
        if i not in used_p and j not in used_r:
            used_p.add(i)
            used_r.add(j)
            matched.append(value)
    total = max(len(predicted), len(reference))
    hit = len(predicted) == len(reference) == len(matched) and all(v >= HIT_IOU for v in matched)
    return (sum(matched) / total if total else 0.0), hit


def grounding_turns(messages: Iterable[dict[str, Any]] | None) -> list[tuple[str, list[Box]]]:
    """(question, reference boxes) of each turn that asks where something is: a user turn without boxes
    answered by an assistant turn with them (region reading, boxes in the question, is not one)."""
    turns = list(messages or [])
    out = []
    for q, a in zip(turns, turns[1:], strict=False):
        if q.get("role") != "user" or a.get("role") != "assistant" or boxes_in(q.get("content") or "") is not None:
            continue
        reference = boxes_in(a.get("content") or "")
        if reference:
            question = (q.get("content") or "").replace("<image>", "").strip()
            out.append((question, reference))
    return out


def evaluate(rows: Iterable[dict[str, Any]], answer: Callable[[str, bytes], str], limit: int) -> dict[str, Any]:
    """Ask `answer(question, image_bytes)` each grounding question of `rows` (at most `limit`) and score the
    boxes it predicts: turns, how many answers held a `<|det|>` group, mean IoU, hit rate, a few examples."""
    results = []
    for row in rows:
        image = (row.get("image") or {}).get("bytes")
        if not image:
            continue
        for question, reference in grounding_turns(row.get("messages")):
            if len(results) >= limit:
                break
            said = answer(question, image)
            predicted = boxes_in(said)
            value, hit = score(predicted or [], reference)
            results.append({"id": row.get("id"), "question": question, "answer": said, "reference": reference,
                            "predicted": predicted, "iou": round(value, 4), "hit": hit})
        if len(results) >= limit:
            break
    n = len(results)
    return {"turns": n, "parsed": sum(r["predicted"] is not None for r in results),
            "mean_iou": round(sum(r["iou"] for r in results) / n, 4) if n else None,
            "hit_rate": round(sum(r["hit"] for r in results) / n, 4) if n else None,
            "hit_iou": HIT_IOU, "examples": results[:20]}
