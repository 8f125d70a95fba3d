"""LangId names the language of English and Chinese text, says "und" when there is nothing to judge, and is
accurate on the labeled set the project ships."""

from __future__ import annotations

import json

import pytest

from filters import eval_lang
from filters.langid import LangId, normalise


@pytest.fixture(scope="module")
def langid() -> LangId:
    return LangId()


def test_english_and_chinese_are_recognised_with_confidence(langid):
    (en, p_en), (zh, p_zh) = langid.predict([
        "The council will vote next week on a plan to open the swimming pool in the evenings.",
        "市政府下周将讨论延长游泳馆晚间开放时间的方案，市民可以在网上提出意见。",
    ])
    assert (en, zh) == ("en", "zh")
    assert p_en > 0.8 and p_zh > 0.8


def test_empty_and_whitespace_text_is_undetermined(langid):
    assert langid.predict(["", "   \n\t "]) == [("und", 0.0), ("und", 0.0)]
    assert langid.predict([]) == []


def test_multiline_text_is_accepted_and_results_keep_input_order(langid):
    texts = ["First line of a letter.\nSecond line, with more words in it.\n", "", "Dies ist ein deutscher Satz."]
    assert [lang for lang, _ in langid.predict(texts)] == ["en", "und", "de"]


def test_kanji_without_kana_is_chinese_and_text_with_kana_stays_japanese(langid):
    (kanji_only, _), (with_kana, _) = langid.predict(["東京大学医学部附属病院", "これは日本語で書かれた短い文章です。"])
    assert kanji_only == "zh"
    assert with_kana == "ja"


def test_shouting_does_not_change_the_language(langid):
    assert normalise("ВНИМАНИЕ: ГОРЯЧАЯ ПОВЕРХНОСТЬ") == "внимание: горячая поверхность"
    assert langid.predict(["ATTENZIONE: SUPERFICIE CALDA. NON TOCCARE."])[0][0] == "it"


def test_accuracy_on_the_shipped_eval_set(langid):
    report = eval_lang.evaluate(langid)
    assert report["samples"] >= 12 * 25
    assert report["accuracy"] >= 0.9, report["errors"]
    assert report["keep_set_accuracy"] >= 0.95, report["errors"]
    assert set(report["per_lang"]) == {"en", "zh", "de", "fr", "es", "ru", "ja", "ko", "ar", "pt", "it", "vi"}


def test_eval_cli_writes_the_report_as_json(tmp_path, capsys):
    out = tmp_path / "lang.json"
    assert eval_lang.main(["--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert {"accuracy", "keep_set_accuracy", "per_lang", "samples"} <= set(report)
    assert "keep-set" in capsys.readouterr().out
