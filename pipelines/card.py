"""`python -m pipelines.card OUT`: make a build's output folder a Hugging Face dataset repo, as it is.

    python -m pipelines.card out/pdf       # (re)writes out/pdf/README.md; every build ends by doing it

A build's folder holds Parquet files of four schemas side by side (kept shards, rejects, errors,
dedup decisions), so `datasets.load_dataset(folder)` alone cannot tell them apart. The card's YAML
front matter names them as configs (`default`: the kept shards, split `train`; `rejects`, `errors`,
`duplicates`, each only when it holds rows: `datasets` refuses a split with no rows), with their
features, so `load_dataset(folder)` and `load_dataset(folder, "errors")` work offline and the same
folder uploads to a dataset hub unchanged. The body says in words what stats.json and the manifest
hold: sources and funnel, kinds, languages, use-case tags, licence notes, how it was built.

A README.md that is not a vlforge card (no `MARKER`) is someone's own: it is left as it is.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml

CARD = "README.md"
MARKER = "<!-- vlforge dataset card: python -m pipelines.card rewrites this file; delete this line to keep edits -->"
_COMMAND = re.compile(r"<!-- vlforge:command (.*) -->")
SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"))
IMAGE_KINDS = ("page", "screenshot", "tile", "figure", "chart", "caption", "document")


@dataclass(frozen=True)
class Part:
    """One config of the card: its name, the `data_files` pattern (relative to the folder), the files it
    matches now, their rows, and what it holds in words."""

    name: str
    pattern: str
    files: tuple[Path, ...]
    rows: int
    what: str


def parts(out: Path) -> list[Part]:
    """The configs the folder holds now: each with files and rows (an empty table is not a config)."""
    specs = (("default", "shards/*.parquet", "the kept samples, one schema (`pipelines/schema.py`)"),
             ("rejects", "rejects/*.parquet", "samples a filter or dedup dropped, with `drop_reason`"),
             ("errors", "errors.parquet", "inputs that could not be processed: uri, stage, error_type, message"),
             ("duplicates", "duplicates.parquet", "dedup decisions: id, duplicate_of, method"))
    found = []
    for name, pattern, what in specs:
        files = tuple(sorted(out.glob(pattern)))
        rows = sum(pq.read_metadata(f).num_rows for f in files)
        if rows:
            found.append(Part(name, pattern, files, rows, what))
    return found


def size_category(n: int) -> str:
    return next((label for bound, label in SIZE_CATEGORIES if n < bound), "n>1B")


def _features(part: Part) -> dict[str, Any] | None:
    """The config's `dataset_info` entry (features read from the first file's schema, which carries the
    Hugging Face metadata that makes `image` an Image), or None without `datasets` installed."""
    try:
        import datasets
    except ImportError:
        return None
    features = datasets.Features.from_arrow_schema(pq.read_schema(part.files[0]))
    splits = datasets.SplitDict({"train": datasets.SplitInfo("train", num_examples=part.rows)})
    info = datasets.DatasetInfo(features=features, splits=splits,
                                download_size=sum(f.stat().st_size for f in part.files))
    return {"config_name": part.name, **info._to_yaml_dict()}


def front_matter(found: list[Part], stats: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    """The card's YAML metadata: configs with their data files and features, and the hub's own keys."""
    configs = []
    for p in found:
        entry: dict[str, Any] = {"config_name": p.name}
        if p.name == "default":
            entry["default"] = True
        entry["data_files"] = [{"split": "train", "path": p.pattern}]
        configs.append(entry)
    meta: dict[str, Any] = {}
    licence = common_licence(manifest.get("config", {}))
    if licence:
        meta["license"] = licence.lower()
    langs = sorted(code for code in stats.get("kept_by_lang", {})  # ISO 639 codes; "und" says none was found
                   if re.fullmatch(r"[a-z]{2,3}", code) and code not in ("und", "mul", "zxx"))
    if langs:
        meta["language"] = langs
    if any(k in IMAGE_KINDS for k in stats.get("kept_by_kind", {})):
        meta["task_categories"] = ["image-text-to-text"]
    meta["size_categories"] = [size_category(stats.get("kept", 0))]
    meta["tags"] = ["vlforge", *sorted(stats.get("kept_by_source", {}))]
    meta["configs"] = configs
    infos = [i for i in (_features(p) for p in found) if i is not None]
    if infos:
        meta["dataset_info"] = infos
    return meta


# -- licences -------------------------------------------------------------------------------------------------
def members(config: dict[str, Any]) -> list[tuple[str, dict[str, Any], list[str]]]:
    """(source, its settings section, its inputs) per source of the build: one, or a mix's entries."""
    run = config.get("run", {})
    if run.get("source") != "mix":
        return [(run.get("source", "?"), config.get(run.get("source", ""), {}) or {}, list(run.get("inputs", [])))]
    out = []
    for entry in config.get("mix", {}).get("sources", []):
        src = entry.get("source", "?")
        out.append((src, entry.get(src) or config.get(src, {}) or {}, list(entry.get("inputs", []))))
    return out


def common_licence(config: dict[str, Any]) -> str | None:
    """The licence every source of the build declares, when they all declare the same one."""
    declared = {(section.get("license") or None) if src == "dataset" else None for src, section, _ in members(config)}
    return declared.pop() if len(declared) == 1 else None


def licence_notes(config: dict[str, Any], roots: list[str]) -> list[str]:
    """What is known of the inputs' licences, per source, from the build's settings."""
    notes = []
    where = ", ".join(f"`{Path(r).name}`" for r in roots)
    for src, section, inputs in members(config):
        named = ", ".join(f"`{Path(i).name}`" for i in inputs) or where
        if src == "pdf":
            named = named or "the embedded sample corpus"
            notes.append(f"pdf: pages, figures and documents rendered from the input PDFs ({named}); each PDF's own "
                         "licence applies (its metadata is in `meta.pdf`).")
        elif src == "web":
            seeds = ", ".join(section.get("seeds", [])) or named or "the bundled sample site"
            notes.append(f"web: screenshots, HTML and images of pages crawled from {seeds}, robots.txt obeyed; "
                         "each site's terms apply (`uri` is the page's URL).")
        elif src == "chart":
            notes.append("chart: charts synthesised by vlforge (matplotlib, generated data tables and plotting "
                         "code): no third-party content.")
        elif src == "dataset":
            name = section.get("name", "dataset")
            lic = section.get("license") or "not declared (set `dataset.license`)"
            notes.append(f"{name}: rows of {named or 'the given dataset'}; licence: {lic} (also in `meta.license`).")
        else:
            notes.append(f"{src}: see the source's inputs ({named or 'none given'}).")
    return notes


# -- body -----------------------------------------------------------------------------------------------------
def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    if not rows:
        return "_none_\n"
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _counts(counts: dict[str, int], name: str, total: int | None = None, label: dict[str, str] | None = None) -> str:
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if total:
        return _table((name, "samples", "share"), [(f"`{k}`" + (f" {label[k]}" if label and k in label else ""), v,
                                                    f"{100 * v / total:.1f}%") for k, v in rows])
    return _table((name, "samples"), [(f"`{k}`", v) for k, v in rows])


def _tally(total: int, what: str, counts: dict[str, int], name: str) -> str:
    return f"No {what.split(' (')[0]}.\n" if not total else f"{total} {what}:\n\n{_counts(counts, name)}"


def _tag_names() -> dict[str, str]:
    try:
        from taxonomy.tree import load_taxonomy

        tree = load_taxonomy()
    except Exception:  # the card is still right without the names
        return {}
    return {s.id: f"({s.name.get('en', '')})" for s in tree.subcategories.values()}


def body(out: Path, found: list[Part], stats: dict[str, Any], manifest: dict[str, Any], command: str | None) -> str:
    """The card's Markdown: what the folder holds and how it was made, in words and tables."""
    name, where = out.resolve().name, str(out)
    kept, item = stats.get("kept", 0), stats.get("item_name", "items")
    dedup = stats.get("dedup", {})
    config = manifest.get("config", {})
    sources = ", ".join(f"`{s}`" for s in stats.get("kept_by_source", {})) or "none"
    s = [MARKER, "", f"# {name}", "",
         f"A vision-language dataset built by vlforge from {stats.get('inputs', 0)} inputs "
         f"({stats.get('items', 0)} {item}): **{kept} samples kept** (sources {sources}), "
         f"{stats.get('dropped', 0)} dropped by the filters and dedup ({dedup.get('duplicates', 0)} as duplicates), "
         f"{stats.get('errors', 0)} inputs or samples that failed. Each row is one sample: an image and its text "
         "(a page and its text layer, a screenshot and its HTML, a chart and its data table), an interleaved "
         "document, or text alone; with OCR lines, quality scores, use-case tags and instruction turns.", ""]
    s += ["## Loading", "", "```python", "import datasets",
          f'ds = datasets.load_dataset("{where}", split="train")   # this folder, or its hub repo id',
          'ds[0]["image"]                                    # a PIL image; `images` (documents) a list of them',
          f'stream = datasets.load_dataset("{where}", split="train", streaming=True)   # reads as it goes']
    s += [f'{p.name} = datasets.load_dataset("{where}", "{p.name}", split="train")' for p in found
          if p.name != "default"]
    s += ["```", "", "Other trainers: `python -m pipelines.export FOLDER --format {llava,webdataset,obelics,jsonl} "
          "--out DIR`.", "", "## Configs", ""]
    s.append(_table(("config", "files", "rows", "what"),
                    [(f"`{p.name}`", f"`{p.pattern}` ({len(p.files)})", p.rows, p.what) for p in found]))
    absent = [n for n in ("rejects", "errors", "duplicates") if n not in {p.name for p in found}]
    if absent:
        s.append(f"No {', no '.join(absent)} in this build (a config appears when its table has rows).\n")
    s += ["## Sources and funnel", ""]
    s.append(_table(("source", "in", "kept", "dropped", "errors"), [
        (f"`{src}`", f["in"], f["out"], "; ".join(f"{r} {n}" for r, n in sorted(f["dropped"].items())) or 0,
         f["errors"]) for src, f in sorted(stats.get("funnel", {}).items())]))
    s += ["## Kinds", "", _counts(stats.get("kept_by_kind", {}), "kind", kept),
          "## Languages", "", _counts(stats.get("kept_by_lang", {}), "language", kept),
          "## Use-case tags", "", "A sample may carry several tags (DeepSeek-VL's use-case taxonomy).", "",
          _counts(stats.get("kept_by_tag", {}), "tag", kept, _tag_names()),
          "## Dropped, errors, duplicates", "",
          _tally(stats.get("dropped", 0), "samples dropped (config `rejects`), by reason",
                 stats.get("dropped_by_reason", {}), "drop reason"),
          _tally(stats.get("errors", 0), "failures (config `errors`), by type", stats.get("errors_by_type", {}),
                 "error type"),
          _tally(dedup.get("duplicates", 0), "duplicates removed (config `duplicates`), by method",
                 dedup.get("by_method", {}), "method")]
    s += ["## Licences", "", *[f"- {n}" for n in licence_notes(config, manifest.get("input_roots", []))], "",
          "Check the licence of every input before you share or train on this dataset.", ""]
    s += _how_built(manifest, stats, command)
    s += ["## Files", "", "```",
          "shards/part-*.parquet        kept samples (config default)",
          "rejects/*.parquet            dropped samples with drop_reason (config rejects)",
          "errors.parquet               failures: id, uri, locator, source, stage, error_type, message",
          "duplicates.parquet           dedup decisions",
          "stats.json, manifest.json    the numbers above; settings, versions, every shard with rows and sha256",
          "report.html                  plots and thumbnails (python -m pipelines.report)",
          ".errors/ .signatures/ .global/ .plan/ .commits.jsonl   a resumable build's own state (not data)",
          "```", ""]
    return "\n".join(s)


def _how_built(manifest: dict[str, Any], stats: dict[str, Any], command: str | None) -> list[str]:
    run = stats.get("this_run", {})
    cluster = run.get("cluster", {})
    versions = manifest.get("versions", {})
    s = ["## How it was built", ""]
    if command:
        s += [_COMMAND.pattern.replace("(.*)", json.dumps(command)), "```bash", command, "```", ""]
    else:
        s += ["The command was not recorded (this card was written by `python -m pipelines.card`); the settings "
              "below rebuild it.", ""]
    s += [f"- config fingerprint `{manifest.get('fingerprint', '?')}` (a rerun with the same settings into the "
          "same folder resumes; other settings are refused)",
          f"- pipeline `{versions.get('pipeline', '?')}`; stages in order: "
          + " → ".join(f"`{x}`" for x in manifest.get("stages", [])),
          f"- created {manifest.get('created', '?')}, finished {manifest.get('finished', '?')}; "
          f"{manifest.get('units_total', '?')} units; last run {run.get('seconds', '?')} s "
          f"({run.get('items_per_second', '?')} {stats.get('item_name', 'items')}/s) on "
          f"{cluster.get('nodes', '?')} node(s), {cluster.get('cpus', '?')} CPUs",
          f"- input roots: {', '.join(f'`{Path(r).name}`' for r in manifest.get('input_roots', [])) or 'none'}", "",
          "<details><summary>settings (manifest.json `config`)</summary>", "", "```json",
          json.dumps(manifest.get("config", {}), indent=1, sort_keys=True, ensure_ascii=False), "```", "",
          "</details>", ""]
    return s


# -- writing --------------------------------------------------------------------------------------------------
def previous_command(path: Path) -> str | None:
    """The build command an earlier card recorded, so rewriting the card keeps it."""
    if not path.is_file():
        return None
    m = _COMMAND.search(path.read_text(encoding="utf-8"))
    return json.loads(m.group(1)) if m else None


def is_ours(path: Path) -> bool:
    return not path.exists() or MARKER in path.read_text(encoding="utf-8", errors="replace")


def render(out: str | Path, command: str | None = None) -> str:
    """The card's text for a finished build in `out` (front matter, then body)."""
    out = Path(out)
    if not (out / "stats.json").is_file():
        raise FileNotFoundError(f"{out} holds no finished build (no stats.json): run python -m pipelines.build first")
    stats = json.loads((out / "stats.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text()) if (out / "manifest.json").is_file() else {}
    found = parts(out)
    meta = yaml.safe_dump(front_matter(found, stats, manifest), sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{meta}---\n\n{body(out, found, stats, manifest, command or previous_command(out / CARD))}"


def write_card(out: str | Path, command: str | None = None) -> Path | None:
    """Write `out/README.md` (atomically) and return its path; None when a README.md of someone else's is there."""
    path = Path(out) / CARD
    if not is_ours(path):
        return None
    text = render(out, command)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipelines.card", description=__doc__.split("\n")[0])
    p.add_argument("out", help="a build's output folder")
    args = p.parse_args(argv)
    try:
        path = write_card(args.out)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if path is None:
        print(f"error: {Path(args.out) / CARD} is not a vlforge card (someone wrote it): left as it is",
              file=sys.stderr)
        return 2
    print(f"card: {path.resolve()}  (datasets.load_dataset({str(Path(args.out))!r}))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
