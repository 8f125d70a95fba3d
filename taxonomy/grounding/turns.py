"""Grounding questions and answers in English and Chinese, and the few a sample gets.

Five tasks, each from its own kind of referent:
- `text`: "Where is "…" in the image?" -> `<|ref|>…<|/ref|><|det|>[[…], …]<|/det|>`, every place it occurs;
- `read`: "What is written in <|det|>[[…]]<|/det|>?" -> the exact text (region reading);
- `element`: "Where is the button "Submit"?" -> its box(es), from the DOM;
- `figure`: "Locate the figure captioned "…"." -> the figure's box;
- `caption`: "Where is the caption of Figure 3?" -> the caption's box.
`read` turns teach reading (`recognition.ocr_transcription`), the others grounding
(`recognition.grounding`). Which turns a sample gets, and their wording, depend only on its id,
so every run writes the same ones; the tasks take turns so a page of text still gets its figure.
Every answer is parsed back before it is kept (`boxes.parse`), so no malformed box is ever written.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from taxonomy.grounding.boxes import det, grounded, parse, scaled
from taxonomy.grounding.referents import Referent

GROUNDING_TAG = "recognition.grounding"
READING_TAG = "recognition.ocr_transcription"
TASKS = ("text", "read", "element", "figure", "caption")

TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "text": ('Where is "{text}" in the image?', 'Locate the text "{text}".',
                 'Find "{text}" in the image and give its bounding box.', 'Give the bounding box of "{text}".'),
        "read": ("What is written in {det}?", "Read the text in the region {det}.", "What text is inside {det}?"),
        "element": ('Where is the {role} "{text}"?', 'Locate the {role} labelled "{text}".',
                    'Find the {role} "{text}" on the screen.'),
        "element_bare": ("Where is the {role}?", "Locate the {role} in the image."),
        "figure": ('Locate the {role} captioned "{text}".', 'Where is the {role} whose caption reads "{text}"?'),
        "caption": ("Where is the caption of {text}?", "Locate the caption of {text}."),
    },
    "zh": {
        "text": ("图中“{text}”在哪里？", "请找出文字“{text}”的位置。", "给出“{text}”的边界框。"),
        "read": ("{det}里写的是什么？", "请读出区域{det}中的文字。", "{det}这个区域里有什么文字？"),
        "element": ("“{text}”{role}在哪里？", "请找出标有“{text}”的{role}。", "在屏幕上找到“{text}”这个{role}。"),
        "element_bare": ("图中的{role}在哪里？", "请找出图中的{role}。"),
        "figure": ("请找出标题为“{text}”的{role}。", "标题是“{text}”的{role}在哪里？"),
        "caption": ("{text}的标题在哪里？", "请找出{text}的说明文字。"),
    },
}
ROLE_NAMES = {
    "en": {"button": "button", "link": "link", "heading": "heading", "field": "input field", "table": "table",
           "image": "image", "figure": "figure"},
    "zh": {"button": "按钮", "link": "链接", "heading": "标题", "field": "输入框", "table": "表格", "image": "图片",
           "figure": "图"},
}
# What the answer's <|ref|> names for elements, figures and captions.
_REFS = {
    "en": {"element": 'the {role} "{text}"', "element_bare": "the {role}", "figure": 'the {role} captioned "{text}"',
           "caption": "the caption of {text}"},
    "zh": {"element": "“{text}”{role}", "element_bare": "{role}", "figure": "标题为“{text}”的{role}",
           "caption": "{text}的标题"},
}


@dataclass(frozen=True)
class Turn:
    """One question and its answer, the task it serves, what it is about (`Referent.about`) and the
    referent's text (the quoted text, label or caption)."""

    task: str
    request: str
    answer: str
    about: str
    text: str

    @property
    def tag(self) -> str:
        return READING_TAG if self.task == "read" else GROUNDING_TAG


def turns_for(ref: Referent, width: int, height: int, lang: str, rng: random.Random) -> list[Turn]:
    """The turns a referent can give (a text gives a `text` turn and, when its box holds nothing else, a
    `read` turn); none when a box does not survive the 0-999 scale."""
    boxes = [scaled(b, width, height) for b in ref.boxes]
    if not boxes or any(b is None for b in boxes):
        return []
    words = TEMPLATES[lang]
    role = ROLE_NAMES[lang].get(ref.role, ref.role)
    out = []
    if ref.task == "text":
        out.append(Turn("text", rng.choice(words["text"]).format(text=ref.text), grounded(ref.text, boxes), ref.about,
                        ref.text))
        if ref.readable:
            out.append(Turn("read", rng.choice(words["read"]).format(det=det(boxes)), ref.text, ref.about, ref.text))
    else:
        form = "element_bare" if ref.task == "element" and not ref.text else ref.task
        request = rng.choice(words[form]).format(text=ref.text, role=role)
        name = _REFS[lang][form].format(text=ref.text, role=role)
        out.append(Turn(ref.task, request, grounded(name, boxes), ref.about, ref.text))
    return [t for t in out if is_sound(t)]


def is_sound(turn: Turn) -> bool:
    """The turn's boxes parse back: one `<|det|>` group of valid boxes in the answer (or, for reading, in
    the question), and none on the other side."""
    where, other = (turn.request, turn.answer) if turn.task == "read" else (turn.answer, turn.request)
    groups = parse(where)
    return len(groups) == 1 and bool(groups[0][1]) and not parse(other) and "<|" not in turn.text


def choose(turns: list[Turn], limit: int, rng: random.Random) -> list[Turn]:
    """At most `limit` turns, the tasks taking turns in an order drawn from `rng`, one turn per referent."""
    by_task: dict[str, list[Turn]] = {}
    for t in turns:
        by_task.setdefault(t.task, []).append(t)
    for group in by_task.values():
        rng.shuffle(group)
    order = sorted(by_task)
    rng.shuffle(order)
    chosen: list[Turn] = []
    used: set[str] = set()
    while len(chosen) < limit and any(by_task.values()):
        for task in order:
            group = by_task[task]
            while group and group[-1].about in used:
                group.pop()
            if group and len(chosen) < limit:
                turn = group.pop()
                chosen.append(turn)
                used.add(turn.about)
    return chosen
