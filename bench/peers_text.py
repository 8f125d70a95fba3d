"""The planted text corpus for near-duplicate and text-filter comparisons, its exact ground truth and scorer.

    python bench/peers_text.py [--cache ~/.cache/vlforge/peers] [--threshold 0.8] [--datatrove]

Real documents: the paragraphs of Python 3.11's HTML documentation (Debian's `python3.11-doc`, PSF
licence), fetched with `apt-get download` into the cache folder the first time, grouped into passages
of 60-400 words (one passage never spans two pages). A share of the passages get one planted copy
each, tagged with its kind (`PLANTED_KINDS`): an exact copy, a few words edited, boilerplate lines
(the site's own navigation and footer lines) added, the end truncated, the paragraphs shuffled.
Copies are planted near the threshold on purpose (a heavily edited or truncated copy can fall under
it): the ground truth, not the kind, says what is a duplicate.

Ground truth: every pair of passages whose word 5-gram Jaccard is at least `TRUTH_THRESHOLD` (0.8),
computed exactly over all pairs (`truth_pairs`: an inverted index over the shingles with prefix
filtering, then each candidate's true Jaccard). Words are `[^\\W_]+` runs of the NFKC, case-folded text.

Scoring (`score`), given the ids a method removed:
- a removed passage is a true positive if it has a truth partner that is kept (a near copy survives),
  otherwise a false positive (removed with no near copy left: content lost);
- precision = true positives / removed;
- recall = truth pairs with at least one member removed / truth pairs;
- per planted kind: each passage belongs to a *family* (an original and its planted copy); the family's
  kind is the copy's kind (`natural` for an original with no planted copy). A removed passage counts
  for its family's kind; a truth pair for its family's kind when both members are of one family, else
  for `natural` (two originals that are near copies in the documentation itself);
- `keep_original`: in families whose pair is caught with exactly one member removed, the share where
  the original (the clean passage) is the one kept, per kind.

API for bench/peers.py (stable):
- `text_corpus(cache_dir) -> (rows, truth)`: rows are dicts `id, text, planted_kind, original_id`
  (`planted_kind == "original"` and `original_id == id` for a real passage); truth is a set of
  (id_a, id_b) pairs with id_a < id_b.
- `score(removed, rows, truth) -> dict`: `overall` and `by_kind` of {removed, tp, precision, pairs,
  caught, recall}, plus `keep_original`.
- `run_vlforge(rows, **dedup_settings) -> (removed_ids, seconds)`: vlforge's dedup (signatures, LSH keys,
  one partition, resolve) in this process, no Ray; `seconds` is wall time.
- `clean_passages(cache_dir, n)`: n original passages (clean prose) for false-drop checks.
- `run_vlforge_filters(texts) -> (dropped_flags, seconds)`: vlforge's text filter over text samples.
"""

from __future__ import annotations

import argparse
import glob
import html.parser
import json
import math
import random
import re
import subprocess
import sys
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CORPUS_VERSION = "1"
TRUTH_THRESHOLD = 0.8
SHINGLE = 5
PACKAGE = "python3.11-doc"
DEFAULT_CACHE = Path.home() / ".cache" / "vlforge" / "peers"
PLANTED_KINDS = ("exact", "small_edits", "boilerplate", "truncated", "shuffled")
COPIES_PER_KIND = 400
MAX_PASSAGES = 8000  # originals drawn from the ~14k passages: ~10k rows with the copies
# Lines of the documentation site's own navigation and footer: real boilerplate, not invented.
BOILERPLATE = (
    "Navigation", "index", "modules |", "next |", "previous |",
    "Python » 3.11.2 Documentation » The Python Standard Library »",
    "© Copyright 2001-2023, Python Software Foundation.",
    "This page is licensed under the Python Software Foundation License Version 2.",
    "Examples, recipes, and other code in the documentation are additionally licensed under the Zero Clause BSD "
    "License.", "See History and License for more information.",
    "The Python Software Foundation is a non-profit corporation. Please donate.",
    "Last updated on Feb 27, 2023.", "Found a bug?", "Created using Sphinx 5.3.0.",
    "Table of Contents", "Previous topic", "Next topic", "This Page", "Report a Bug", "Show Source",
    "Quick search", "Theme Auto Light Dark",
)
_WORD = re.compile(r"[^\W_]+")


# ---- the real documents -------------------------------------------------------------------------------

class _Paragraphs(html.parser.HTMLParser):
    """The text of each <p> inside a Sphinx page's main body, in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth_main = 0  # >0 while inside <div role="main">
        self.in_p = False
        self.current: list[str] = []
        self.found: list[str] = []
        self._div_stack: list[bool] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "div":
            is_main = dict(attrs).get("role") == "main"
            self._div_stack.append(is_main)
            self.depth_main += is_main
        elif tag == "p" and self.depth_main:
            self.in_p, self.current = True, []

    def handle_endtag(self, tag: str) -> None:
        if tag == "div" and self._div_stack:
            self.depth_main -= self._div_stack.pop()
        elif tag == "p" and self.in_p:
            self.in_p = False
            text = " ".join("".join(self.current).split())
            if text:
                self.found.append(text)

    def handle_data(self, data: str) -> None:
        if self.in_p:
            self.current.append(data)


def _doc_root(cache_dir: Path) -> Path:
    """The extracted HTML tree of the documentation package, downloaded with apt-get the first time."""
    root = cache_dir / "pydoc"
    html_dir = root / "usr" / "share" / "doc" / "python3.11" / "html"
    if html_dir.is_dir():
        return html_dir
    cache_dir.mkdir(parents=True, exist_ok=True)
    debs = glob.glob(str(cache_dir / f"{PACKAGE}_*.deb"))
    if not debs:
        subprocess.run(["apt-get", "download", PACKAGE], cwd=cache_dir, check=True, capture_output=True)
        debs = glob.glob(str(cache_dir / f"{PACKAGE}_*.deb"))
    subprocess.run(["dpkg-deb", "-x", debs[0], str(root)], check=True)
    return html_dir


def _page_passages(paragraphs: list[str], min_words: int = 60, max_words: int = 400) -> list[str]:
    """Consecutive paragraphs of one page joined (blank line between) until a passage has min_words."""
    out, current, words = [], [], 0
    for p in paragraphs:
        n = len(p.split())
        if current and words + n > max_words:
            if words >= min_words:
                out.append("\n\n".join(current))
            current, words = [], 0
        current.append(p)
        words += n
        if words >= min_words:
            out.append("\n\n".join(current))
            current, words = [], 0
    return out


def real_passages(cache_dir: Path) -> list[str]:
    """Every passage of the documentation, in file order; exact repeats within the docs kept once."""
    root = _doc_root(cache_dir)
    seen, out = set(), []
    for path in sorted(root.rglob("*.html")):
        parser = _Paragraphs()
        parser.feed(path.read_text(encoding="utf-8", errors="replace"))
        for passage in _page_passages(parser.found):
            key = " ".join(words(passage))
            if key not in seen:
                seen.add(key)
                out.append(passage)
    return out


# ---- planted copies -----------------------------------------------------------------------------------

def _small_edits(text: str, rng: random.Random) -> str:
    """Replace, delete or insert 1 to ~n/30 words (one edit removes up to 5 shingles: near the threshold)."""
    toks = text.split(" ")
    for _ in range(rng.randint(1, max(1, len(toks) // 30))):
        i = rng.randrange(len(toks))
        op = rng.choice(("replace", "delete", "insert"))
        if op == "replace":
            toks[i] = rng.choice(("the", "a", "value", "object", "function", "module", "returns"))
        elif op == "delete" and len(toks) > 10:
            del toks[i]
        else:
            toks.insert(i, rng.choice(("also", "then", "here", "only", "always")))
    return " ".join(toks)


def _boilerplate(text: str, rng: random.Random) -> str:
    """2 to 5 navigation/footer lines before and after the passage."""
    head = rng.sample(BOILERPLATE, rng.randint(1, 2))
    tail = rng.sample(BOILERPLATE, rng.randint(1, 3))
    return "\n".join(head) + "\n\n" + text + "\n\n" + "\n".join(tail)


def _truncated(text: str, rng: random.Random) -> str:
    """The last 5-25% of the words cut off."""
    toks = text.split(" ")
    return " ".join(toks[: max(10, round(len(toks) * (1 - rng.uniform(0.05, 0.25))))])


def _shuffled(text: str, rng: random.Random) -> str:
    """The paragraphs in another order (sentences, for a one-paragraph passage)."""
    parts = text.split("\n\n")
    joiner = "\n\n"
    if len(parts) < 2:
        parts, joiner = re.split(r"(?<=\.) ", text), " "
    order = list(range(len(parts)))
    while len(parts) > 1 and order == sorted(order):
        rng.shuffle(order)
    return joiner.join(parts[i] for i in order)


_PLANT = {"exact": lambda t, r: t, "small_edits": _small_edits, "boilerplate": _boilerplate,
          "truncated": _truncated, "shuffled": _shuffled}


def plant(passages: list[str], seed: int = 0, per_kind: int = COPIES_PER_KIND) -> list[dict[str, Any]]:
    """Rows of the corpus: every passage, and per kind `per_kind` copies of distinct passages, shuffled
    together so a copy's position says nothing (the first of a pair is not always the original)."""
    rng = random.Random(seed)
    rows = [{"id": f"p{i:05d}", "text": t, "planted_kind": "original", "original_id": f"p{i:05d}"}
            for i, t in enumerate(passages)]
    chosen = rng.sample(range(len(passages)), per_kind * len(PLANTED_KINDS))
    for k, kind in enumerate(PLANTED_KINDS):
        for n, i in enumerate(chosen[k * per_kind:(k + 1) * per_kind]):
            rows.append({"id": f"c{kind[:2]}{n:04d}", "text": _PLANT[kind](passages[i], rng), "planted_kind": kind,
                         "original_id": f"p{i:05d}"})
    rng.shuffle(rows)
    return rows


# ---- exact ground truth -------------------------------------------------------------------------------

def words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def shingle_set(text: str, n: int = SHINGLE) -> set[str]:
    toks = words(text)
    if len(toks) <= n:
        return {" ".join(toks)} if toks else set()
    return {" ".join(toks[i:i + n]) for i in range(len(toks) - n + 1)}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def truth_pairs(rows: list[dict[str, Any]], threshold: float = TRUTH_THRESHOLD) -> set[tuple[str, str]]:
    """Every pair with word 5-gram Jaccard >= threshold, exactly.

    Prefix filtering: order each set's shingles rarest first; two sets with Jaccard >= t share at least
    one shingle among the first |A| - ceil(t|A|) + 1 of each, so only pairs that share a prefix shingle
    are candidates, and each candidate is verified on its full sets. No pair above the threshold is missed.
    """
    sets = [shingle_set(r["text"]) for r in rows]
    freq = Counter(s for st in sets for s in st)
    prefixes = []
    for st in sets:
        ordered = sorted(st, key=lambda s: (freq[s], s))
        prefixes.append(ordered[: len(ordered) - math.ceil(threshold * len(ordered) - 1e-9) + 1])
    index: dict[str, list[int]] = defaultdict(list)
    for i, pre in enumerate(prefixes):
        for s in pre:
            index[s].append(i)
    cands: set[tuple[int, int]] = set()
    for members in index.values():
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                cands.add((members[x], members[y]))
    out = set()
    for i, j in cands:
        a, b = sets[i], sets[j]
        if min(len(a), len(b)) < threshold * max(len(a), len(b)):
            continue
        if jaccard(a, b) >= threshold:
            x, y = sorted((rows[i]["id"], rows[j]["id"]))
            out.add((x, y))
    return out


def text_corpus(cache_dir: Path | str = DEFAULT_CACHE) -> tuple[list[dict[str, Any]], set[tuple[str, str]]]:
    """(rows, truth pairs) of the planted corpus, built once and cached under `cache_dir/text-corpus-vN/`."""
    cache_dir = Path(cache_dir).expanduser()
    folder = cache_dir / f"text-corpus-v{CORPUS_VERSION}"
    rows_path, truth_path = folder / "rows.jsonl", folder / "truth.json"
    if rows_path.exists() and truth_path.exists():
        rows = [json.loads(line) for line in rows_path.read_text().splitlines()]
        return rows, {tuple(p) for p in json.loads(truth_path.read_text())}
    passages = real_passages(cache_dir)
    if len(passages) > MAX_PASSAGES:
        picked = sorted(random.Random(1).sample(range(len(passages)), MAX_PASSAGES))
        passages = [passages[i] for i in picked]
    rows = plant(passages)
    truth = truth_pairs(rows)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = rows_path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    tmp.replace(rows_path)
    truth_path.write_text(json.dumps(sorted(truth)))
    return rows, truth


def clean_passages(cache_dir: Path | str = DEFAULT_CACHE, n: int | None = None) -> list[str]:
    """Original passages of the corpus (real prose, no planted copy), the first n in corpus order."""
    rows, _ = text_corpus(cache_dir)
    texts = [r["text"] for r in rows if r["planted_kind"] == "original"]
    return texts if n is None else texts[:n]


# ---- scoring ------------------------------------------------------------------------------------------

def family_kinds(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Each passage's family kind: a copy's own kind, its original's the copy's, else `natural`."""
    kind = {r["id"]: "natural" for r in rows}
    for r in rows:
        if r["planted_kind"] != "original":
            kind[r["id"]] = kind[r["original_id"]] = r["planted_kind"]
    return kind


def score(removed: Iterable[str], rows: list[dict[str, Any]], truth: set[tuple[str, str]]) -> dict[str, Any]:
    """Precision and recall overall and per planted kind (definitions in the module docstring)."""
    removed = set(removed)
    family = family_kinds(rows)
    original = {r["id"]: r["original_id"] for r in rows}
    partners: dict[str, set[str]] = defaultdict(set)
    for a, b in truth:
        partners[a].add(b)
        partners[b].add(a)
    stats: dict[str, Counter] = defaultdict(Counter)
    for d in removed:
        for k in (family[d], "overall"):
            stats[k]["removed"] += 1
            stats[k]["tp"] += any(p not in removed for p in partners.get(d, ()))
    kept_original: dict[str, Counter] = defaultdict(Counter)
    for a, b in truth:
        same = original[a] == original[b]
        kind = family[a] if same else "natural"
        for k in (kind, "overall"):
            stats[k]["pairs"] += 1
            stats[k]["caught"] += a in removed or b in removed
        if same and (a in removed) != (b in removed):
            orig = a if original[a] == a else b
            kept_original[kind]["families"] += 1
            kept_original[kind]["original_kept"] += orig not in removed

    def summary(c: Counter) -> dict[str, Any]:
        return {"removed": c["removed"], "tp": c["tp"], "precision": round(c["tp"] / c["removed"], 4)
                if c["removed"] else None, "pairs": c["pairs"], "caught": c["caught"],
                "recall": round(c["caught"] / c["pairs"], 4) if c["pairs"] else None}

    kinds = [k for k in ("natural", *PLANTED_KINDS) if k in stats]
    return {"overall": summary(stats["overall"]), "by_kind": {k: summary(stats[k]) for k in kinds},
            "keep_original": {k: round(c["original_kept"] / c["families"], 4) for k, c in kept_original.items()}}


# ---- vlforge ------------------------------------------------------------------------------------------

def sample_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Corpus rows as vlforge text samples."""
    return [{"id": r["id"], "source": "peers", "kind": "text", "text": r["text"], "keep": True, "lang": None,
             "quality": None} for r in rows]


def run_vlforge(rows: list[dict[str, Any]], **settings: Any) -> tuple[set[str], float]:
    """The ids vlforge's dedup removes from the rows (settings: `DedupConfig` fields), and wall seconds.

    The whole global path in this process: the stage's signatures, LSH keys, every key in one partition,
    resolve; the runner does the same on Ray with the keys shuffled across tasks.
    """
    import pyarrow as pa

    from filters.dedup.config import DedupConfig
    from filters.dedup.groups import band_keys, candidate_pairs, resolve
    from filters.dedup.stage import Dedup
    from pipelines.schema import SIG_COL, SIG_SCHEMA, to_table

    config = DedupConfig(**settings)
    stage = Dedup(config)
    started = time.perf_counter()
    samples = sample_rows(rows)
    signed = []
    for i in range(0, len(samples), 512):
        signed.extend(stage.process(to_table(samples[i:i + 512])).select(["id", "source", "kind", SIG_COL])
                      .to_pylist())
    sigs = pa.Table.from_pylist([{"id": r["id"], "source": r["source"], "kind": r["kind"], **r[SIG_COL]}
                                 for r in signed if r[SIG_COL] is not None], schema=SIG_SCHEMA)
    sigs = sigs.append_column("row", pa.array(range(sigs.num_rows), pa.int64()))
    decisions = resolve(sigs, candidate_pairs(band_keys(sigs, config), config), config)
    seconds = time.perf_counter() - started
    removed = {d["id"] for d in decisions.to_pylist() if d["action"] == "drop"}
    return removed, seconds


def run_vlforge_filters(texts: list[str]) -> tuple[list[bool], float]:
    """Which texts vlforge's text filter (defaults) drops, as text samples, and wall seconds."""
    from filters.text import TextFilter
    from pipelines.schema import to_table

    stage = TextFilter()
    samples = [{"id": f"t{i}", "source": "peers", "kind": "text", "text": t, "keep": True, "lang": "en"}
               for i, t in enumerate(texts)]
    started = time.perf_counter()
    dropped: list[bool] = []
    for i in range(0, len(samples), 512):
        out = stage.process(to_table(samples[i:i + 512]))
        dropped.extend(k is False for k in out.column("keep").to_pylist())
    return dropped, time.perf_counter() - started


_DATATROVE_FILTERS = """
import json, sys, time
from datatrove.data import Document
from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter
texts = [json.loads(line) for line in open(sys.argv[1])]
steps = [GopherRepetitionFilter(), GopherQualityFilter()]
docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
steps[0].filter(docs[0]); steps[1].filter(docs[0])  # the word tokenizer loads on first use
started, cpu = time.perf_counter(), time.process_time()
dropped = []
for doc in docs:
    dropped.append(not all(step.filter(doc) is True for step in steps))
print(json.dumps({"dropped": dropped, "seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu}))
"""


def run_datatrove_filters(texts: list[str], python: Path) -> tuple[list[bool], float, float] | None:
    """DataTrove's GopherRepetitionFilter then GopherQualityFilter (defaults) over the texts, run by the
    Python of a venv holding datatrove 0.10.1 (with spacy, its English word tokenizer): (dropped flags,
    wall seconds, CPU seconds) of the filtering alone, or None when that venv is missing."""
    if not Path(python).exists():
        return None
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        f.write("".join(json.dumps(t) + "\n" for t in texts))
    try:
        proc = subprocess.run([str(python), "-c", _DATATROVE_FILTERS, f.name], capture_output=True, text=True,
                              env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}, check=True)
    finally:
        Path(f.name).unlink()
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return out["dropped"], out["seconds"], out["cpu"]


def compare_filters(texts: list[str], python: Path) -> dict[str, Any]:
    """Drop share and docs per CPU second of vlforge's text filter and DataTrove's Gopher filters on the
    same texts, in one run (CPU seconds: the machine's cores are shared, wall time is noise)."""
    from filters.text import TextFilter
    from pipelines.schema import to_table

    stage = TextFilter()
    tables = [to_table([{"id": f"t{i + j}", "source": "peers", "kind": "text", "text": t, "keep": True, "lang": "en"}
                        for j, t in enumerate(texts[i:i + 512])]) for i in range(0, len(texts), 512)]
    cpu = time.process_time()
    dropped = []
    for table in tables:
        dropped.extend(k is False for k in stage.process(table).column("keep").to_pylist())
    cpu = time.process_time() - cpu
    result = {"vlforge": {"dropped": round(sum(dropped) / len(texts), 4), "docs_per_cpu_s": round(len(texts) / cpu)}}
    peer = run_datatrove_filters(texts, python)
    if peer is not None:
        result["datatrove"] = {"dropped": round(sum(peer[0]) / len(texts), 4),
                               "docs_per_cpu_s": round(len(texts) / peer[2])}
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--threshold", type=float, default=None, help="dedup.text_threshold (default: the config's)")
    ap.add_argument("--filters-only", action="store_true", help="only the text-filter comparison")
    args = ap.parse_args()
    started = time.perf_counter()
    rows, truth = text_corpus(args.cache)
    kinds = Counter(r["planted_kind"] for r in rows)
    print(f"corpus: {len(rows)} passages ({dict(kinds)}), {len(truth)} truth pairs at Jaccard >= "
          f"{TRUTH_THRESHOLD} ({time.perf_counter() - started:.1f} s)")
    if not args.filters_only:
        settings = {} if args.threshold is None else {"text_threshold": args.threshold}
        removed, seconds = run_vlforge(rows, **settings)
        result = score(removed, rows, truth)
        print(f"vlforge dedup: removed {len(removed)} in {seconds:.1f} s")
        for kind, s in [("overall", result["overall"]), *result["by_kind"].items()]:
            print(f"  {kind:12s} removed {s['removed']:5d}  precision {s['precision']}  recall {s['recall']} "
                  f"({s['caught']}/{s['pairs']} pairs)")
        print(f"  clean original kept over its copy: {result['keep_original']}")
    texts = clean_passages(args.cache)
    for name, r in compare_filters(texts, args.cache / "datatrove" / "bin" / "python").items():
        print(f"text filters, {name}: {len(texts)} clean passages, dropped {r['dropped']:.2%}, "
              f"{r['docs_per_cpu_s']} docs per CPU second")


if __name__ == "__main__":
    main()
