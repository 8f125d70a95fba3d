"""vlforge's dedup beside DataTrove's and Data-Juicer's on the same planted corpora, in one run.

    python bench/peers.py [--cache ~/.cache/vlforge/peers] [--only text|images] [--no-install] [--json out.json]

Corpora (each built once and cached): the planted text corpus of `bench/peers_text.py` (passages of
Python's documentation with planted copies, exact word-5-gram Jaccard ground truth) and the planted
image corpus of `bench/peers_images.py` (renders, tiles and figures of real manuals with planted
copies). Methods, each at its defaults and, for text, at a 0.8 threshold (then the text filters at
their defaults on the clean passages: share dropped and passages per CPU second, vlforge's and
DataTrove's Gopher filters, `peers_text.compare_filters`):

- vlforge: its dedup's own code path (signatures, LSH keys, verified groups) in this process;
- DataTrove 0.10.1: its four MinHash stages (signature, buckets, cluster, filter) on a local executor
  with one worker; at 0.8, 20 buckets of 12 hashes;
- Data-Juicer 1.6.1: `document_minhash_deduplicator` (text) and `image_deduplicator` (images, exact
  match of imagededup's 64-bit pHash);
- imagededup 0.3.3's PHash at its default `max_distance_threshold` (10 of 64 bits), as the reference
  for cropped copies.

vlforge's other image settings reuse the defaults' signatures (they change only the global pass), so
their seconds are the global pass alone.

Each peer lives in its own venv under the cache folder (`<cache>/<name>/`, `python3.11 -m venv`,
pinned versions), installed the first time (skipped with the reason when that fails or with
--no-install), and is driven by a small script its own Python runs. Seconds are wall time of the
dedup alone (not the corpus); docs/s = corpus size / seconds. The machine's cores are shared, so
compare the peers within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import peers_images, peers_text  # noqa: E402

DEFAULT_CACHE = Path.home() / ".cache" / "vlforge" / "peers"
# Each peer: pip steps (run in order; Data-Juicer's CPU torch first, or its resolver pulls a CUDA build;
# imagededup without its dependencies, which would pull torchvision's CUDA build for code the hashes never
# run), and the import that proves the venv works.
PEERS: dict[str, tuple[list[list[str]], str]] = {
    "datatrove": ([["datatrove==0.10.1", "spacy==3.8.18", "nltk==3.10.4", "tokenizers==0.23.3",
                    "xxhash==3.6.0", "orjson==3.13.0"]],
                  "from datatrove.pipeline.dedup import MinhashDedupSignature"),
    "data-juicer": ([["torch==2.13.0"], ["py-data-juicer==1.6.1", "aiohttp==3.14.5"],
                     ["--no-deps", "imagededup==0.3.3.post2"],
                     ["PyWavelets==1.9.0", "scikit-learn==1.9.1", "matplotlib==3.11.2", "scipy==1.17.1"]],
                    "from data_juicer.ops.deduplicator.document_minhash_deduplicator import "
                    "DocumentMinhashDeduplicator"),
}
# imagededup imports its CNN method (torchvision models) on `import imagededup.methods`, even for the
# hashes; no CPU torchvision wheel exists for this machine's torch, so the drivers stand in an empty
# torchvision module: the hashing code never touches it.
_NO_TORCHVISION = r"""
import importlib.machinery, sys, types
class _Any(types.ModuleType):
    def __init__(self, name):
        super().__init__(name)
        self.__spec__ = importlib.machinery.ModuleSpec(name, None)
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Any(name)
    def __call__(self, *a, **k):
        return _Any("call")
for _m in ("torchvision", "torchvision.models", "torchvision.transforms", "torchvision.models.vision_transformer"):
    sys.modules[_m] = _Any(_m)
sys.modules["torchvision"].models = sys.modules["torchvision.models"]
sys.modules["torchvision"].transforms = sys.modules["torchvision.transforms"]
"""
_TIMER = r"""
import json, sys, time
args = json.loads(sys.argv[1])
rows = [json.loads(line) for line in open(args["rows"])]
ids = [r["id"] for r in rows]
"""
_START = "started, cpu = time.perf_counter(), time.process_time()  # the dedup alone, imports done\n"
_DONE = r"""
print(json.dumps({"removed": sorted(removed), "seconds": time.perf_counter() - started,
                  "cpu": time.process_time() - cpu}))
"""
DATATROVE_TEXT = _TIMER + r"""
import glob, gzip, os
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup import (MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter,
                                      MinhashDedupSignature)
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
""" + _START + r"""
work = args["work"]
cfg = MinhashConfig(**args.get("config", {}))
data = os.path.dirname(args["rows"])
def reader():
    return JsonlReader(data, glob_pattern=os.path.basename(args["rows"]), text_key="text", id_key="id")
def go(steps, tasks=1):
    LocalPipelineExecutor(steps, tasks=tasks, workers=1, logging_dir=f"{work}/logs/{len(os.listdir(work))}").run()
go([reader(), MinhashDedupSignature(output_folder=f"{work}/sigs", config=cfg)])
go([MinhashDedupBuckets(input_folder=f"{work}/sigs", output_folder=f"{work}/buckets", config=cfg)], cfg.num_buckets)
go([MinhashDedupCluster(input_folder=f"{work}/buckets", output_folder=f"{work}/remove", config=cfg)])
go([reader(), MinhashDedupFilter(input_folder=f"{work}/remove", exclusion_writer=JsonlWriter(f"{work}/removed"))])
removed = set()
for path in glob.glob(f"{work}/removed/*"):
    with gzip.open(path, "rt") as f:
        removed.update(json.loads(line)["id"] for line in f)
""" + _DONE
DATA_JUICER = _NO_TORCHVISION + _TIMER + r"""
from datasets import Dataset
from data_juicer.core.data import NestedDataset
from data_juicer.ops.deduplicator.document_minhash_deduplicator import DocumentMinhashDeduplicator
from data_juicer.ops.deduplicator.image_deduplicator import ImageDeduplicator
""" + _START + r"""
if args["op"] == "text":
    Op = DocumentMinhashDeduplicator
    data = [{"id": r["id"], "text": r["text"]} for r in rows]
else:
    Op = ImageDeduplicator
    data = [{"id": r["id"], "text": "", "images": [r["path"]]} for r in rows]
op = Op(num_proc=1, **args.get("config", {}))
out = op.run(NestedDataset(Dataset.from_list(data)))
removed = set(ids) - set(out["id"])
""" + _DONE
IMAGEDEDUP = _NO_TORCHVISION + _TIMER + r"""
import os
from imagededup.methods import PHash
""" + _START + r"""
by_name = {os.path.basename(r["path"]): r["id"] for r in rows}
found = PHash(verbose=False).find_duplicates_to_remove(image_dir=os.path.dirname(rows[0]["path"]),
                                                       num_enc_workers=1, num_dist_workers=1)
removed = {by_name[f] for f in found if f in by_name}
""" + _DONE


def ensure_peer(name: str, cache: Path, install: bool = True) -> tuple[Path | None, str]:
    """(the venv's python, "") when the peer imports, else (None, why not). Installs it when missing."""
    steps, probe = PEERS[name]
    venv = cache / name
    python = venv / "bin" / "python"
    if python.exists() and _imports(python, probe):
        return python, ""
    if not install:
        return None, f"not installed in {venv} (--no-install)"
    print(f"installing {name} into {venv} (pinned; a few minutes the first time)", flush=True)
    log = cache / f"{name}-install.log"
    try:
        if not python.exists():
            subprocess.run(["python3.11", "-m", "venv", str(venv)], check=True, capture_output=True, text=True)
        with log.open("a") as out:
            for step in steps:
                subprocess.run([str(python), "-m", "pip", "install", "-q", *step], check=True, stdout=out,
                               stderr=subprocess.STDOUT, timeout=3600)
    except (OSError, subprocess.SubprocessError) as e:
        return None, f"install failed ({type(e).__name__}; see {log})"
    return (python, "") if _imports(python, probe) else (None, f"installed but `{probe}` fails (see {log})")


def _imports(python: Path, probe: str) -> bool:
    code = _NO_TORCHVISION + probe
    return subprocess.run([str(python), "-c", code], capture_output=True).returncode == 0


def run_peer(python: Path, script: str, rows_file: Path, **args: Any) -> dict[str, Any]:
    """Run a driver script with the peer's Python; its last stdout line is its JSON result."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)
    with tempfile.TemporaryDirectory() as work:
        proc = subprocess.run([str(python), "-c", script, json.dumps({"rows": str(rows_file), "work": work, **args})],
                              capture_output=True, text=True, env=env, cwd=work)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["removed"] = set(out["removed"])
    return out


# ---- the two corpora ----------------------------------------------------------------------------------

def text_methods(rows: list[dict[str, Any]], truth: set, pythons: dict[str, Path], work: Path) -> list[dict]:
    """Every method over the text corpus: one row of the table each."""
    rows_file = work / "text.jsonl"
    rows_file.write_text("".join(json.dumps({"id": r["id"], "text": r["text"]}) + "\n" for r in rows))
    runs: list[tuple[str, str, Any]] = [
        ("vlforge", "defaults (0.8, 5-grams, verified)", lambda: _vlforge_text(rows)),
        ("vlforge", "0.8, 256 permutations", lambda: _vlforge_text(rows, num_perm=256)),
    ]
    if "datatrove" in pythons:
        dt = pythons["datatrove"]
        runs += [("DataTrove", "defaults (14x8)", lambda: run_peer(dt, DATATROVE_TEXT, rows_file)),
                 ("DataTrove", "0.8 (20x12)", lambda: run_peer(dt, DATATROVE_TEXT, rows_file,
                                                               config={"num_buckets": 20, "hashes_per_bucket": 12}))]
    if "data-juicer" in pythons:
        dj = pythons["data-juicer"]
        runs += [("Data-Juicer", "defaults (0.7)", lambda: run_peer(dj, DATA_JUICER, rows_file, op="text")),
                 ("Data-Juicer", "0.8", lambda: run_peer(dj, DATA_JUICER, rows_file, op="text",
                                                         config={"jaccard_threshold": 0.8}))]
    out = []
    for method, setting, go in runs:
        try:
            got = go()
        except Exception as e:  # noqa: BLE001 - a peer that fails is reported, the others still run
            out.append({"method": method, "setting": setting, "error": str(e)[:200]})
            continue
        s = peers_text.score(got["removed"], rows, truth)
        out.append({"method": method, "setting": setting, "removed": len(got["removed"]),
                    "precision": s["overall"]["precision"], "recall": s["overall"]["recall"],
                    "by_kind": {k: v["recall"] for k, v in s["by_kind"].items()}, "cpu": _cpu(got),
                    "seconds": round(got["seconds"], 1), "docs_per_s": round(len(rows) / got["seconds"])})
    return out


def _cpu(got: dict[str, Any]) -> float | None:
    """CPU seconds of a run when its runner measured them (peers' drivers; vlforge's image run)."""
    cpu = got.get("cpu", (got["sign_cpu"] + got["global_cpu"]) if "sign_cpu" in got else None)
    return None if cpu is None else round(cpu, 1)


def _vlforge_text(rows: list[dict[str, Any]], **settings: Any) -> dict[str, Any]:
    removed, seconds = peers_text.run_vlforge(rows, **settings)
    return {"removed": removed, "seconds": seconds}


def image_methods(rows: list[dict[str, Any]], pythons: dict[str, Path], folder: Path) -> list[dict]:
    """Every method over the image corpus (`folder` holds its images and rows.jsonl)."""
    from filters.dedup.config import DedupConfig

    rows_file = folder / "peers-rows.jsonl"
    rows_file.write_text("".join(json.dumps({"id": r["id"], "path": str(folder / r["path"])}) + "\n"
                                 for r in rows))
    signed: dict[str, Any] = {}

    def vlforge(config: Any = None) -> dict[str, Any]:
        """The other settings reuse the defaults' signatures: they change only the global pass."""
        got = peers_images.run_vlforge(rows, config, sigs=signed.get("sigs"))
        signed.setdefault("sigs", got["sigs"])
        signed.setdefault("timing", {k: v for k, v in got.items() if k not in ("sigs", "removed", "methods")})
        return got

    runs: list[tuple[str, str, Any]] = [
        ("vlforge", "defaults", vlforge),
        ("vlforge", "image_text_agreement = [] (image alone)", lambda: vlforge(DedupConfig(image_text_agreement=()))),
        ("vlforge", "crop_images = false (pHash only)", lambda: vlforge(DedupConfig(crop_images=False))),
    ]
    if "data-juicer" in pythons:
        dj = pythons["data-juicer"]
        runs += [("Data-Juicer", "image_deduplicator (phash)",
                  lambda: run_peer(dj, DATA_JUICER, rows_file, op="image")),
                 ("imagededup", "PHash, distance 10 (default)", lambda: run_peer(dj, IMAGEDEDUP, rows_file))]
    out = []
    for method, setting, go in runs:
        try:
            got = go()
        except Exception as e:  # noqa: BLE001
            out.append({"method": method, "setting": setting, "error": str(e)[:200]})
            continue
        s = peers_images.score(rows, got["removed"])
        out.append({"method": method, "setting": setting, "removed": len(got["removed"]),
                    "precision": round(s["precision"], 3), "by_kind": s["recall"], "caught": s["caught"],
                    "planted": s["planted"], "seconds": round(got["seconds"], 1), "cpu": _cpu(got),
                    "docs_per_s": round(len(rows) / got["seconds"], 1)})
    if "timing" in signed:
        print("vlforge signing and global pass:", json.dumps({k: round(v, 4) for k, v in signed["timing"].items()}))
    return out


def table(title: str, results: list[dict], kinds: list[str]) -> str:
    """A Markdown table: method, setting, removed, precision, recall (per planted kind), seconds, docs/s."""
    head = ["method", "setting", "removed", "precision", *(["recall"] if "recall" in (results[0] if results else {})
                                                        else []), *kinds, "seconds", "CPU s", "docs/s"]
    lines = [f"**{title}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['method']} | {r['setting']} | failed: {r['error']} |")
            continue
        cells = [r["method"], r["setting"], str(r["removed"]), f"{r['precision']:.3f}"]
        if "recall" in r:
            cells.append(f"{r['recall']:.3f}")
        for k in kinds:
            v = r["by_kind"].get(k)
            cells.append("-" if v is None else f"{v:.3f}" if "caught" not in r else
                         f"{r['caught'][k]}/{r['planted'][k]}")
        cells += [str(r["seconds"]), "-" if r.get("cpu") is None else str(r["cpu"]), str(r["docs_per_s"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--only", choices=("text", "images"))
    ap.add_argument("--no-install", action="store_true", help="skip peers that are not installed yet")
    ap.add_argument("--per-kind", type=int, default=70, help="planted copies per kind in the image corpus")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    pythons = {}
    for name in PEERS:
        python, why = ensure_peer(name, args.cache, install=not args.no_install)
        if python is None:
            print(f"skipping {name}: {why}")
        else:
            pythons[name] = python
    report: dict[str, Any] = {}
    if args.only != "images":
        started = time.perf_counter()
        rows, truth = peers_text.text_corpus(args.cache)
        print(f"text corpus: {len(rows)} passages, {len(truth)} pairs at word-5-gram Jaccard >= "
              f"{peers_text.TRUTH_THRESHOLD} ({time.perf_counter() - started:.0f} s)", flush=True)
        with tempfile.TemporaryDirectory() as work:
            report["text"] = text_methods(rows, truth, pythons, Path(work))
        kinds = sorted({k for r in report["text"] if "by_kind" in r for k in r["by_kind"]})
        print(table(f"Text near-dup ({len(rows)} passages; recall per planted kind)", report["text"], kinds))
        texts = peers_text.clean_passages(args.cache)  # the text filters at defaults, on clean real prose
        report["text_filters"] = peers_text.compare_filters(texts, args.cache / "datatrove" / "bin" / "python")
        for name, r in report["text_filters"].items():
            print(f"text filters, {name}: {len(texts)} clean passages, dropped {r['dropped']:.2%}, "
                  f"{r['docs_per_cpu_s']} docs per CPU second")
    if args.only != "text":
        rows = peers_images.cached_corpus(args.cache / "corpus", per_kind=args.per_kind)
        folder = args.cache / "corpus" / f"images-{args.per_kind}-0"
        print(f"image corpus: {len(rows)} images, {len(peers_images.ground_truth(rows))} planted copies", flush=True)
        report["images"] = image_methods(rows, pythons, folder)
        print(table(f"Image near-dup ({len(rows)} images; caught / planted per kind)", report["images"],
                    list(peers_images.KINDS)))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=sorted))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
