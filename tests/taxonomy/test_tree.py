"""The taxonomy file loads into the paper's tree, and a broken file is rejected with a message that says what is wrong
and where."""

from __future__ import annotations

import pytest

from taxonomy.tree import LANGUAGES, MIN_EXAMPLES, TaxonomyError, load_taxonomy

CATEGORIES = ["recognition", "conversion", "analysis", "commonsense_reasoning", "logical_reasoning", "evaluation",
              "multi_image_analysis", "safety"]

# The smallest valid taxonomy: one category, one subcategory. Each test below breaks one thing in it.
VALID = """\
[[category]]
id = "recognition"
name.en = "Recognition"
name.zh = "识别"
description.en = "Describe what is there."
description.zh = "描述图中有什么。"

[[subcategory]]
id = "recognition.ocr"
parent = "recognition"
name.en = "OCR"
name.zh = "文字识别"
description.en = "Read the text."
description.zh = "识别文字。"
examples.en = ["what does it say", "read the sign pls", "type out this note"]
examples.zh = ["写的什么", "读一下牌子上的字", "把字打出来"]
"""


def write(tmp_path, text: str):
    path = tmp_path / "taxonomy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path, text: str) -> str:
    with pytest.raises(TaxonomyError) as caught:
        load_taxonomy(write(tmp_path, text))
    return str(caught.value)


def test_shipped_taxonomy_has_the_eight_categories_and_28_subcategories():
    taxonomy = load_taxonomy()
    assert list(taxonomy.categories) == CATEGORIES
    assert len(taxonomy.subcategories) == 28
    assert [len(taxonomy.children(c)) for c in CATEGORIES] == [4, 2, 4, 6, 2, 5, 2, 3]
    assert taxonomy.parent_of("conversion.image_to_code") == "conversion"
    assert "safety.prompt_injection" in taxonomy.children("safety")


def test_every_shipped_entry_is_named_described_and_exemplified_in_both_languages():
    taxonomy = load_taxonomy()
    for entry in [*taxonomy.categories.values(), *taxonomy.subcategories.values()]:
        assert all(entry.name[lang].strip() and entry.description[lang].strip() for lang in LANGUAGES), entry.id
    for sub in taxonomy.subcategories.values():
        assert all(MIN_EXAMPLES <= len(sub.examples[lang]) <= 5 for lang in LANGUAGES), sub.id


def test_the_minimal_file_loads(tmp_path):
    taxonomy = load_taxonomy(write(tmp_path, VALID))
    assert taxonomy.children("recognition") == ["recognition.ocr"]
    assert taxonomy.subcategories["recognition.ocr"].examples["zh"][0] == "写的什么"


def test_unknown_ids_are_rejected_by_the_lookups():
    taxonomy = load_taxonomy()
    with pytest.raises(KeyError, match="unknown subcategory 'recognition.nope'"):
        taxonomy.parent_of("recognition.nope")
    with pytest.raises(KeyError, match="unknown category 'nope'"):
        taxonomy.children("nope")


def test_duplicate_id_is_named_with_its_line(tmp_path):
    path = write(tmp_path, VALID)
    message = load_error(tmp_path, VALID + "\n" + VALID[VALID.index("[[subcategory]]"):])
    assert f"{path}:18: [[subcategory]] #2 'recognition.ocr': duplicate id 'recognition.ocr'" in message


def test_unknown_parent_lists_the_known_categories(tmp_path):
    message = load_error(tmp_path, VALID.replace('parent = "recognition"', 'parent = "recogniton"'))
    assert "unknown parent 'recogniton' (categories: recognition)" in message


def test_empty_description_names_the_language(tmp_path):
    message = load_error(tmp_path, VALID.replace('description.en = "Read the text."', 'description.en = "  "'))
    assert ":8: [[subcategory]] #1 'recognition.ocr': empty description.en" in message


def test_subcategory_id_must_start_with_its_parent(tmp_path):
    message = load_error(tmp_path, VALID.replace('id = "recognition.ocr"', 'id = "ocr"'))
    assert "id 'ocr' must be its parent id plus a dot and a name" in message


def test_missing_examples_are_reported(tmp_path):
    message = load_error(tmp_path, VALID.replace('examples.zh = ["写的什么", "读一下牌子上的字", "把字打出来"]\n', ""))
    assert f"missing examples: examples.zh needs at least {MIN_EXAMPLES} requests" in message


def test_too_few_examples_are_reported(tmp_path):
    message = load_error(tmp_path, VALID.replace('"读一下牌子上的字", "把字打出来"', '"读一下"'))
    assert "examples.zh has 2 request(s), needs at least 3" in message


def test_unknown_key_is_named_with_the_allowed_ones(tmp_path):
    message = load_error(tmp_path, VALID.replace('parent = "recognition"', 'parent = "recognition"\nexample = "x"'))
    assert "unknown key 'example' (allowed: id, parent, name, description, examples)" in message


def test_unknown_top_level_table_is_named(tmp_path):
    message = load_error(tmp_path, VALID + '\n[[subcategroy]]\nid = "x"\n')
    assert "unknown key 'subcategroy' at top level" in message


def test_category_without_subcategories_is_reported(tmp_path):
    extra = VALID[: VALID.index("[[subcategory]]")].replace('"recognition"', '"conversion"')
    message = load_error(tmp_path, VALID + "\n" + extra)
    assert "category 'conversion' has no subcategories" in message


def test_invalid_toml_names_the_file(tmp_path):
    path = write(tmp_path, VALID)
    message = load_error(tmp_path, VALID.replace('name.en = "OCR"', 'name.en = "OCR'))
    assert message.startswith(f"{path}: not valid TOML")


def test_all_problems_are_reported_together(tmp_path):
    broken = (VALID.replace('examples.en = ["what does it say", "read the sign pls", "type out this note"]\n', "")
              .replace('description.zh = "识别文字。"', 'description.zh = ""')
              .replace('name.en = "Recognition"', 'name.en = "Recognition"\ncolour = "red"'))
    message = load_error(tmp_path, broken)
    assert message.startswith("3 problems in the taxonomy:")
    assert "missing examples: examples.en" in message
    assert "empty description.zh" in message
    assert "unknown key 'colour'" in message
