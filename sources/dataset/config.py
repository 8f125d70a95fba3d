"""The `[dataset]` settings: where a dataset's columns go in our schema, and how it is read."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipelines.stage import ConfigError

FORMATS = ("auto", "parquet", "jsonl", "json", "hf")


@dataclass(frozen=True)
class ColumnMap:
    """Which column of the data fills which sample field.

    Every field left unset (`image` included) reads the column of its own name when the data has one
    (`messages` also reads `conversations`, LLaVA's name), and is left empty otherwise; "" never reads a
    column; a column named here must exist, or the row (or, for Parquet and Hugging Face data, the whole
    input) is an error.
    `question` and `answer` become one user/assistant pair in `messages`; `messages` takes a list of
    `{role, content}` or `{from, value}` turns; `id` is the dataset's own id, kept in `meta.source_id`.
    A row with no image (text-only data, or an empty cell in an image column nobody named) is a `text`
    sample; an empty cell in an image column named here is an error.
    """

    image: str | None = None
    text: str | None = None
    question: str | None = None
    answer: str | None = None
    messages: str | None = None
    table: str | None = None
    code: str | None = None
    html: str | None = None
    id: str | None = None


@dataclass(frozen=True)
class DatasetConfig:
    """How to read a dataset and map it.

    `name` is the `source` value its samples carry (the funnel and a mix count per name, so two
    datasets in one mix need two names); `kind` is the sample kind of every row (`caption`: the text
    describes the image; `chart`: a chart with its table or questions; `page`: the text transcribes
    the image, as in OCR sets); `format` is detected from the path unless set; `split` picks one
    split of a saved `DatasetDict` ("" = all); relative image paths resolve against `image_root`, or
    else against the data file's folder; `rows_per_unit` is the grain of parallelism and of resume;
    `license` and the `meta_columns` are copied into each sample's `meta` for provenance.
    """

    name: str = "dataset"
    kind: str = "caption"
    format: str = "auto"
    split: str = ""
    image_root: str = ""
    rows_per_unit: int = 64
    license: str = ""
    meta_columns: tuple[str, ...] = ()
    columns: ColumnMap = field(default_factory=ColumnMap)

    def validate(self) -> None:
        if self.format not in FORMATS:
            raise ConfigError(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}", "format")
        if not self.name or not self.kind:
            raise ConfigError("name and kind must not be empty", "name")
        if self.rows_per_unit < 1:
            raise ConfigError(f"rows_per_unit must be at least 1, got {self.rows_per_unit}", "rows_per_unit")
