import pytest

from pipelines.config import Config, ConfigError, load


def write(tmp_path, text):
    p = tmp_path / "c.toml"
    p.write_text(text)
    return p


def test_valid_config_sets_sections(tmp_path):
    text = '[run]\nsource = "pdf"\nshard_rows = 7\n[pdf]\ndpi = 96\n[filters.text]\nmin_chars = 5\n'
    cfg = load(write(tmp_path, text))
    assert cfg.run.shard_rows == 7 and cfg.pdf.dpi == 96 and cfg.filters.text.min_chars == 5


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown config key 'pdf\.dpx'"):
        load(write(tmp_path, "[pdf]\ndpx = 96\n"))


def test_unknown_nested_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"'filters\.image\.min_sid'"):
        load(write(tmp_path, "[filters.image]\nmin_sid = 3\n"))


def test_wrong_type_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"'pdf\.dpi' must be int"):
        load(write(tmp_path, '[pdf]\ndpi = "high"\n'))


def test_missing_file_and_bad_toml_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(write(tmp_path, "[pdf\n"))


def test_flags_override_file_and_fingerprint_tracks_output_settings_only():
    cfg = Config()
    assert cfg.replace("pdf", dpi=None) is cfg  # an absent flag changes nothing
    assert cfg.replace("pdf", dpi=200).pdf.dpi == 200
    assert cfg.replace("pdf", dpi=200).fingerprint() != cfg.fingerprint()
    assert cfg.replace("run", out="elsewhere", ray_address="auto").fingerprint() == cfg.fingerprint()
