"""The instruction builder: turns a sample's tags into `messages` whose answers are its own ground truth.

For each task in `taxonomy/instructions.toml` whose tag the sample carries and whose answer column it
fills, the builder adds a user turn (a request drawn from the task's templates, in the sample's
language) and an assistant turn holding that column's value verbatim: the text layer for
transcription, the caption for description, the HTML, table or plotting code for image-to-code.
Nothing is generated, so no answer can be wrong about the sample. Transcription uses only a real
text layer, never text that OCR produced (`meta.text_source = "ocr"`). The first user turn of an
image sample starts with `IMAGE_TOKEN`, where the trainer puts the image. Messages a source wrote
itself (chart questions) are kept, and the builder's turns follow them.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.registry import register_stage
from pipelines.resources import package_path
from pipelines.schema import set_columns
from pipelines.stage import Resources, Stage
from taxonomy.tagger import RULES

TEMPLATES_PATH = package_path("taxonomy", "instructions.toml")
IMAGE_TOKEN = "<image>"


@dataclass(frozen=True)
class Task:
    """One kind of instruction: the tag it serves, the column holding its answer, requests per language."""

    name: str
    tag: str
    answer: str
    requests: dict[str, tuple[str, ...]]


def load_tasks(path: Path = TEMPLATES_PATH) -> list[Task]:
    """Read and check the templates file; a problem names the task and what is wrong."""
    data = tomllib.loads(Path(path).read_text())
    tasks = []
    for name, t in data.get("task", {}).items():
        missing = [k for k in ("tag", "answer", "en", "zh") if not t.get(k)]
        if missing:
            raise ValueError(f"{path}: task '{name}' lacks {', '.join(missing)}")
        tasks.append(Task(name, t["tag"], t["answer"], {"en": tuple(t["en"]), "zh": tuple(t["zh"])}))
    return tasks


@dataclass(frozen=True)
class InstructionConfig:
    """`enabled`: build messages at all; `templates`: the templates file ('' = the project's own)."""

    enabled: bool = True
    templates: str = ""


@register_stage(order=510, section="instructions", config=InstructionConfig)
class InstructionBuilder(Stage):
    """Fills `messages` from tags and ground-truth columns."""

    name = "instructions"
    version = "1"
    reads = ("id", "kind", "image", "text", "html", "table", "code", "lang", "tags", "messages", "meta", "keep")
    writes = ("messages",)
    resources = Resources(batch_size=512)

    def __init__(self, config: InstructionConfig | None = None):
        self.config = config or InstructionConfig()
        self.tasks = load_tasks(Path(self.config.templates) if self.config.templates else TEMPLATES_PATH)

    def process(self, batch):
        rows = batch.select(list(self.reads)).to_pylist()
        return set_columns(batch, messages=[self.messages(r) for r in rows])

    def messages(self, row: dict[str, Any]) -> list[dict[str, str]] | None:
        """The sample's conversation: its own messages, then one user/assistant pair per supported task."""
        turns = list(row.get("messages") or [])
        if row.get("keep") is False:
            return turns or None
        # Only tags that are facts about the sample: a classifier's guess never picks the answer column.
        tags = set(row.get("tags") or []) & {sub for sub, supported in RULES if supported(row)}
        lang = "zh" if row.get("lang") == "zh" else "en"
        has_image = bool((row.get("image") or {}).get("bytes"))
        given = {t["content"] for t in turns if t["role"] == "assistant"}
        for task in self.tasks:
            answer = self.answer(task, row)
            if task.tag not in tags or not answer or answer in given:  # a source may have asked it already
                continue
            options = task.requests[lang]
            pick = int.from_bytes(hashlib.blake2b(f"{row['id']}:{task.name}".encode(), digest_size=4).digest(), "big")
            request = options[pick % len(options)]
            if has_image and not any(t["role"] == "user" for t in turns):
                request = f"{IMAGE_TOKEN}\n{request}"
            turns += [{"role": "user", "content": request}, {"role": "assistant", "content": answer}]
        return turns or None

    @staticmethod
    def answer(task: Task, row: dict[str, Any]) -> str | None:
        """The ground truth a task's answer comes from, or None when the sample does not hold it."""
        value = row.get(task.answer)
        if not isinstance(value, str) or not value.strip():
            return None
        if task.answer == "text" and task.tag == "recognition.ocr_transcription":
            meta = json.loads(row["meta"]) if row.get("meta") else {}
            if meta.get("text_source") == "ocr":
                return None  # OCR output is a model's reading, not ground truth
        return value.strip() if task.answer == "text" else value  # code, HTML and tables verbatim
