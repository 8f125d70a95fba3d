"""Where the project's own files are: data shipped inside the packages, and models it trains for the user.

Shipped data (the sample corpus, the taxonomy, the sample site, the configs) is found with `importlib.resources`,
so it is read from wherever the package is installed (a checkout, site-packages), never relative to the current
directory. Models trained on first use cannot live there (site-packages is often read-only), so they go to a cache
folder the user owns: `$VLFORGE_HOME`, else `$XDG_CACHE_HOME/vlforge`, else `~/.cache/vlforge`.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path


def package_path(package: str, *parts: str) -> Path:
    """A file or folder shipped inside `package`, as a real path (the packages are installed unzipped)."""
    resource = importlib.resources.files(package).joinpath(*parts)
    if not isinstance(resource, Path):  # a zip import: the callers open folders and hand paths to C libraries
        raise RuntimeError(f"{package}/{'/'.join(parts)} is not on the file system ({resource!r}); "
                           "install vlforge as a normal (unzipped) package")
    return resource


def cache_dir() -> Path:
    """The user-writable folder for trained models: $VLFORGE_HOME, $XDG_CACHE_HOME/vlforge or ~/.cache/vlforge."""
    home = os.environ.get("VLFORGE_HOME")
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "vlforge"


def model_path(name: str) -> Path:
    """Where the project's model `name` (e.g. "quality.bin") is kept once trained, under `cache_dir()/models`."""
    return cache_dir() / "models" / name


def config_names() -> list[str]:
    """The example configs shipped in the package (pipelines/configs/*.toml), by stem: pdf, web, chart, mix."""
    return sorted(p.stem for p in package_path("pipelines", "configs").glob("*.toml"))


def config_text(name: str) -> str:
    """A shipped config's text, by stem or file name; KeyError names the ones that exist."""
    stem = name.removesuffix(".toml")
    if stem not in config_names():
        raise KeyError(f"no shipped config {name!r}; there are {', '.join(config_names())}")
    return package_path("pipelines", "configs", f"{stem}.toml").read_text(encoding="utf-8")
