"""`vlforge COMMAND ...`: the installed console script, one name for every `python -m` entry point.

    vlforge build --source pdf                 # = python -m pipelines.build --source pdf
    vlforge report out/pdf                     # = python -m pipelines.report out/pdf
    vlforge export out/pdf --format llava --out exports/pdf-llava
    vlforge train --data out/pdf --steps 200   # = python -m model_ref.train ...

Each command hands the rest of the command line to that module's `main`, unchanged, so its flags, help and exit
status are the module's own and the `python -m` forms keep working beside it.
"""

from __future__ import annotations

import importlib
import sys
from importlib.metadata import PackageNotFoundError, version

COMMANDS: dict[str, tuple[str, str]] = {
    "build": ("pipelines.build", "build a dataset from a source into Parquet shards"),
    "report": ("pipelines.report", "HTML dataset report of a build folder"),
    "card": ("pipelines.card", "(re)write a build folder's dataset card (README.md)"),
    "export": ("pipelines.export.__main__", "export a build to LLaVA, WebDataset, OBELICS or JSON Lines"),
    "train": ("model_ref.train", "train the reference model on built shards"),
    "ablate": ("model_ref.ablate", "train one model per data variant and compare them"),
    "generate": ("model_ref.generate", "answer with a trained reference model"),
    "train-quality": ("filters.train_quality", "train the text-quality classifier"),
    "train-tagger": ("taxonomy.train", "train the use-case request classifier"),
    "classify": ("taxonomy.classify", "tag requests with the use-case taxonomy"),
    "eval-lang": ("filters.eval_lang", "score language identification on the labelled set"),
}


def usage() -> str:
    """The command list, aligned, as `vlforge --help` prints it."""
    width, help_width = max(map(len, COMMANDS)), max(len(h) for _, h in COMMANDS.values())
    rows = "\n".join(f"  {name:<{width}}  {help_:<{help_width}}  = python -m {module.removesuffix('.__main__')}"
                     for name, (module, help_) in COMMANDS.items())
    return (f"usage: vlforge COMMAND [ARGS...]\n\ncommands:\n{rows}\n\n"
            "`vlforge COMMAND --help` shows a command's flags; `vlforge build --print-config` a full config.")


def main(argv: list[str] | None = None) -> int:
    """Dispatch `argv[0]` to its module's `main(argv[1:])`; 2 with the command list for an unknown command."""
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if args else 2
    if args[0] == "--version":
        try:
            print(f"vlforge {version('vlforge')}")
        except PackageNotFoundError:
            print("vlforge (not installed: running from a checkout)")
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    result = module.main(rest)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
