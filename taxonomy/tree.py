"""The use-case taxonomy as data: `taxonomy/taxonomy.toml` loaded into a validated tree of categories and subcategories.

The file is the one place a category is defined; the request classifier, the tagger and the instruction builder read it
from here. Everything is checked at load and all problems are reported together, each with its line in the file.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pipelines.resources import package_path

DEFAULT_PATH = package_path("taxonomy", "taxonomy.toml")
LANGUAGES = ("en", "zh")
MIN_EXAMPLES = 3
# Ids become fastText labels and column values: no spaces, no capitals, nothing to quote.
_ID = re.compile(r"[a-z][a-z0-9_]*")
_CATEGORY_KEYS = ("id", "name", "description")
_SUBCATEGORY_KEYS = ("id", "parent", "name", "description", "examples")
_TABLES = {"category": _CATEGORY_KEYS, "subcategory": _SUBCATEGORY_KEYS}


class TaxonomyError(ValueError):
    """A taxonomy file that cannot be used; the message lists every problem with its file and line."""


@dataclass(frozen=True)
class Category:
    """A top-level use case; `name` and `description` are keyed by language ("en", "zh")."""

    id: str
    name: dict[str, str]
    description: dict[str, str]


@dataclass(frozen=True)
class Subcategory:
    """A use case within a category; `examples` holds a few typical requests per language."""

    id: str
    parent: str
    name: dict[str, str]
    description: dict[str, str]
    examples: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class Taxonomy:
    """The whole tree; both dicts are in file order."""

    categories: dict[str, Category]
    subcategories: dict[str, Subcategory]
    path: Path | None = None

    def parent_of(self, sub_id: str) -> str:
        """The category id a subcategory belongs to."""
        try:
            return self.subcategories[sub_id].parent
        except KeyError:
            raise KeyError(f"unknown subcategory {sub_id!r}") from None

    def children(self, cat_id: str) -> list[str]:
        """The subcategory ids of a category, in file order."""
        if cat_id not in self.categories:
            raise KeyError(f"unknown category {cat_id!r}")
        return [sub.id for sub in self.subcategories.values() if sub.parent == cat_id]


def _header_lines(text: str, table: str) -> list[int]:
    """Line numbers of each `[[table]]` header, so problems can point at the entry (tomllib keeps no positions)."""
    header = re.compile(rf"^\s*\[\[\s*{table}\s*\]\]")
    return [n for n, line in enumerate(text.splitlines(), 1) if header.match(line)]


class _Problems:
    """Collects problems so one load reports all of them."""

    def __init__(self, name: str):
        self.name = name
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{self.name}{where}: {message}")


def _localized(entry: dict, key: str, where: str, problems: _Problems, is_list: bool = False) -> dict:
    """The per-language value of `key` (a string, or a list of strings for examples), checking every language."""
    value = entry.get(key)
    if value is None:
        problems.add(where, f"missing {key} ({', '.join(f'{key}.{lang}' for lang in LANGUAGES)})")
        return {}
    if not isinstance(value, dict):
        problems.add(where, f"{key} must be a table of languages ({key}.en = ..., {key}.zh = ...)")
        return {}
    for lang in value.keys() - set(LANGUAGES):
        problems.add(where, f"unknown language {key}.{lang} (allowed: {', '.join(LANGUAGES)})")
    result = {}
    for lang in LANGUAGES:
        item = value.get(lang)
        if is_list:
            if item is None or item == []:
                problems.add(where, f"missing examples: {key}.{lang} needs at least {MIN_EXAMPLES} requests")
            elif not isinstance(item, list) or not all(isinstance(x, str) and x.strip() for x in item):
                problems.add(where, f"{key}.{lang} must be a list of non-empty strings")
            elif len(item) < MIN_EXAMPLES:
                problems.add(where, f"{key}.{lang} has {len(item)} request(s), needs at least {MIN_EXAMPLES}")
            else:
                result[lang] = tuple(item)
        elif item is None:
            problems.add(where, f"missing {key}.{lang}")
        elif not isinstance(item, str):
            problems.add(where, f"{key}.{lang} must be a string")
        elif not item.strip():
            problems.add(where, f"empty {key}.{lang}")
        else:
            result[lang] = item
    return result


def load_taxonomy(path: Path = DEFAULT_PATH) -> Taxonomy:
    """Read and validate a taxonomy file; raise TaxonomyError listing every problem found."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise TaxonomyError(f"{path}: not valid TOML: {e}") from None
    problems = _Problems(str(path))
    for key in data.keys() - _TABLES.keys():
        problems.add("", f"unknown key {key!r} at top level (allowed: [[category]], [[subcategory]])")

    entries: dict[str, list[tuple[str, dict]]] = {}
    for table, allowed in _TABLES.items():
        rows = data.get(table, [])
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            problems.add("", f"{table} must be an array of tables ([[{table}]])")
            rows = []
        if not rows:
            problems.add("", f"no [[{table}]] entries")
        lines = _header_lines(text, table)
        entries[table] = []
        for i, row in enumerate(rows):
            where = f":{lines[i]}" if len(lines) == len(rows) else ""
            where += f": [[{table}]] #{i + 1}"
            if isinstance(row.get("id"), str):
                where += f" {row['id']!r}"
            for key in row.keys() - set(allowed):
                problems.add(where, f"unknown key {key!r} (allowed: {', '.join(allowed)})")
            entries[table].append((where, row))

    categories: dict[str, Category] = {}
    for where, row in entries["category"]:
        cat_id = row.get("id")
        if not isinstance(cat_id, str) or not _ID.fullmatch(cat_id):
            problems.add(where, f"id must be lowercase letters, digits and underscores, got {cat_id!r}")
            continue
        name = _localized(row, "name", where, problems)
        description = _localized(row, "description", where, problems)
        if cat_id in categories:
            problems.add(where, f"duplicate category id {cat_id!r}")
            continue
        categories[cat_id] = Category(cat_id, name, description)

    subcategories: dict[str, Subcategory] = {}
    for where, row in entries["subcategory"]:
        sub_id, parent = row.get("id"), row.get("parent")
        name = _localized(row, "name", where, problems)
        description = _localized(row, "description", where, problems)
        examples = _localized(row, "examples", where, problems, is_list=True)
        if not isinstance(parent, str):
            problems.add(where, "missing parent (the id of a [[category]])")
        elif parent not in categories:
            problems.add(where, f"unknown parent {parent!r} (categories: {', '.join(categories)})")
        if not isinstance(sub_id, str):
            problems.add(where, "missing id")
            continue
        if parent in categories:  # against an unknown parent the prefix check would only repeat that problem
            rest = sub_id.removeprefix(parent + ".")
            if rest == sub_id or not _ID.fullmatch(rest):
                problems.add(where, f"id {sub_id!r} must be its parent id plus a dot and a name "
                                    f"(lowercase letters, digits, underscores), e.g. '{parent}.something'")
        if sub_id in subcategories or sub_id in categories:
            problems.add(where, f"duplicate id {sub_id!r}")
            continue
        subcategories[sub_id] = Subcategory(sub_id, parent if isinstance(parent, str) else "", name, description,
                                            examples)

    for cat_id in categories:
        if not any(sub.parent == cat_id for sub in subcategories.values()):
            problems.add("", f"category {cat_id!r} has no subcategories (add a [[subcategory]] with parent = "
                             f"{cat_id!r})")
    if problems.items:
        count = len(problems.items)
        raise TaxonomyError(f"{count} problem{'s' * (count > 1)} in the taxonomy:\n  " + "\n  ".join(problems.items))
    return Taxonomy(categories, subcategories, path)
