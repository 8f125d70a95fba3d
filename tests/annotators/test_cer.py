"""The CER forgives layout and typography, one rule at a time, and still counts real reading errors.

Each rule has its own test, so a regression names the rule it broke.
"""

from __future__ import annotations

from annotators.ocr.cer import cer, edit_distance, normalise


def test_real_reading_errors_still_count():
    assert cer("abcd", "abxd") == 0.25
    assert cer("The end.", "The end") > 0  # a sentence's full stop is text, not a leader
    assert cer("", "") == 0.0 and cer("", "invented") == 1.0


def test_nfkc_ligatures_and_full_width_forms_match_plain_letters():
    assert cer("ﬁle ﬂow", "file flow") == 0.0
    assert cer("ＡＢＣ１２３", "ABC123") == 0.0


def test_typographic_quotes_fold_to_ascii():
    assert cer("‘single’ “double” ‚low„", "'single' \"double\" 'low\"") == 0.0
    assert cer("`quoted'", "'quoted'") == 0.0  # TeX's opening quote, as OCR often reads it


def test_typographic_dashes_fold_to_ascii():
    assert cer("2000–2022 — a − b ‐ c", "2000-2022 - a - b - c") == 0.0


def test_whitespace_and_line_breaks_are_layout():
    assert cer("one two\nthree", "one  two three") == 0.0
    assert normalise("  a\t b \n") == "a b"


def test_no_spaces_beside_cjk_characters():
    assert cer("公共图书馆", "公 共 图 书 馆") == 0.0
    assert normalise("图书 library 馆") == "图书library馆"


def test_unspaced_dot_leader_is_removed():
    assert normalise("Introduction.............12") == "Introduction 12"
    assert cer("Introduction.............12", "Introduction 12") == 0.0


def test_spaced_dot_leader_is_removed():
    assert cer("Introduction . . . . . . . 12", "Introduction 12") == 0.0
    assert cer("Introduction . . . . . . . 12", "Introduction .......12") == 0.0


def test_ellipsis_leader_is_removed():
    assert cer("Introduction……………12", "Introduction 12") == 0.0
    assert cer("wait… what", "wait... what") == 0.0


def test_a_token_of_only_dots_is_a_leader_remnant():
    assert cer("Introduction 12", "Introduction . 12") == 0.0
    assert cer("Introduction 12", "Introduction .. 12") == 0.0
    assert normalise("x · y") == "x y"


def test_edit_distance_is_the_numerator_of_cer():
    assert edit_distance("Intro . . . . 3", "Intro 8") == 1
    assert cer("Intro . . . . 3", "Intro 8") == 1 / len("Intro 3")
