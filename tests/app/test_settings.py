"""Settings: defaults, TOML file, M1E_* variables, explicit overrides, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import Assistant
from app.settings import SettingsError, SettingsWarning, load_settings
from tests import hostile_inputs


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("M1E_CONFIG", "M1E_TOP_K", "M1E_GENERATOR", "M1E_DATA_DIR", "M1E_INDEX_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no ./m1e.toml unless a test writes one


def test_precedence_overrides_then_env_then_file(monkeypatch, tmp_path):
    (tmp_path / "m1e.toml").write_text('[m1e]\ntop_k = 5\ngenerator = "openai"\ndata_dir = "/srv/m1e"\n', encoding="utf-8")
    s = load_settings()
    assert (s.top_k, s.generator, s.resolved_index_dir) == (5, "openai", Path("/srv/m1e/index"))
    monkeypatch.setenv("M1E_TOP_K", "7")
    assert load_settings().top_k == 7
    assert load_settings(top_k=3).top_k == 3
    assert load_settings().uploads_dir == Path("/srv/m1e/uploads")


def test_bad_value_names_the_key_and_the_file(tmp_path):
    (tmp_path / "m1e.toml").write_text("top_k = 0\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"m1e\.toml.*top_k"):
        load_settings()


def test_unknown_key_is_refused(tmp_path):
    (tmp_path / "m1e.toml").write_text("top_kk = 4\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="top_kk"):
        load_settings()


def test_broken_toml_names_the_file(monkeypatch, tmp_path):
    bad = tmp_path / "conf.toml"
    bad.write_text("generator = \n", encoding="utf-8")
    monkeypatch.setenv("M1E_CONFIG", str(bad))
    with pytest.raises(SettingsError, match=str(bad)):
        load_settings()
    monkeypatch.setenv("M1E_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(SettingsError, match="missing.toml.*does not exist"):
        load_settings()


def test_bad_environment_value(monkeypatch):
    monkeypatch.setenv("M1E_GENERATOR", "gpt")
    with pytest.raises(SettingsError, match="generator"):
        load_settings()


def test_assistant_overrides_on_top_of_given_settings(tmp_path):
    base = load_settings(data_dir=tmp_path, top_k=4)
    assistant = Assistant(base, generator="openai")
    assert (assistant.settings.top_k, assistant.settings.generator, assistant.settings.data_dir) == (4, "openai", tmp_path)
    with pytest.raises(SettingsError, match="top_k"):
        Assistant(top_k=0)


@pytest.mark.parametrize("case", hostile_inputs.params("settings"))
def test_hostile_settings_give_one_error_naming_the_file_or_variable(case, monkeypatch, tmp_path):
    """Issue 13 item 9: a malformed m1e.toml or M1E_* value is one SettingsError naming it."""
    text, variables = case.build
    if text is not None:
        (tmp_path / "m1e.toml").write_text(text, encoding="utf-8")
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=case.expect):
        load_settings()


def test_unknown_variable_warns_naming_it(monkeypatch):
    monkeypatch.setenv("M1E_FOO", "1")
    with pytest.warns(SettingsWarning, match="M1E_FOO"):
        load_settings()


def test_max_file_mb_is_checked_where_the_reader_takes_it(monkeypatch):
    from indexing.readers.limits import ReadLimits

    monkeypatch.setenv("M1E_MAX_FILE_MB", "abc")
    with pytest.raises(ValueError, match="M1E_MAX_FILE_MB='abc' is not a positive number"):
        ReadLimits()
