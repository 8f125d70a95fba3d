"""Exports of a build for other trainers and tools: `python -m pipelines.export OUT --format F --out DIR`.

- `llava`: a JSON list of conversations and image files (LLaVA and the trainers that read its format);
- `webdataset`: tar shards of `<id>.<ext>` and `<id>.json` (WebDataset loaders, large-scale training);
- `obelics`: interleaved documents as aligned `texts`/`images` lists (OBELICS-style pretraining);
- `jsonl`: text-only rows (DataTrove, Dolma and other LLM text pipelines).

Each streams the build's kept shards a row group at a time (memory bounded by a row group, whatever
the build's size), writes shards of `--shard-size` rows to temporary names, and records each finished
one, so a killed export resumes (`run.py`). A format is one module with one class (`common.Format`).
"""

from pipelines.export.run import FORMATS, ExportError, ExportResult, export

__all__ = ["FORMATS", "ExportError", "ExportResult", "export"]
