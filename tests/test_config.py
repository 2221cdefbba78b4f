from pathlib import Path

import pytest

from longdoc.config import Settings, load_settings
from longdoc.errors import ConfigError, LongdocError


def test_defaults_use_the_embedded_model(tmp_path: Path) -> None:
    s = load_settings()
    assert s.model == "local" and s.is_local
    assert s.context_window == 8192
    assert s.data_dir == tmp_path / "data"  # from the autouse fixture's LONGDOC_DATA_DIR


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LONGDOC_MODEL", "hosted_vllm/qwen")
    monkeypatch.setenv("LONGDOC_API_BASE", "http://gpu:8000/v1")
    monkeypatch.setenv("LONGDOC_MAX_CONCURRENCY", "16")
    s = load_settings()
    assert (s.model, s.api_base) == ("hosted_vllm/qwen", "http://gpu:8000/v1")
    assert s.max_concurrency == 16
    assert not s.is_local


def test_toml_file_is_read_and_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = tmp_path / "longdoc.toml"
    toml.write_text('context_window = 4096\nmax_output_tokens = 300\nmodel = "openai/x"\n')
    monkeypatch.setenv("LONGDOC_CONFIG", str(toml))
    monkeypatch.setenv("LONGDOC_MAX_OUTPUT_TOKENS", "200")
    s = load_settings()
    assert s.context_window == 4096
    assert s.max_output_tokens == 200
    assert load_settings(model="local").model == "local"  # arguments win over everything


def test_invalid_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LONGDOC_MAX_CONCURRENCY", "0")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert isinstance(info.value, LongdocError)
    assert "LONGDOC_MAX_CONCURRENCY" in str(info.value)
    assert info.value.problems[0][0].startswith("max_concurrency")


def test_non_numeric_value_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LONGDOC_CONTEXT_WINDOW", "lots")
    with pytest.raises(ConfigError, match="LONGDOC_CONTEXT_WINDOW"):
        load_settings()


def test_inconsistent_values_are_rejected() -> None:
    with pytest.raises(ConfigError, match="max_output_tokens"):
        load_settings(context_window=1024, max_output_tokens=1024)
    with pytest.raises(ConfigError, match="api_base"):
        load_settings(model="hosted_vllm/qwen")
    with pytest.raises(ConfigError, match="gguf file not found"):
        load_settings(gguf="/no/such/model.gguf")


def test_unknown_toml_key_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "longdoc.toml"
    toml.write_text("context_windw = 4096\n")
    monkeypatch.setenv("LONGDOC_CONFIG", str(toml))
    with pytest.raises(ConfigError, match="context_windw"):
        load_settings()


def test_settings_are_immutable() -> None:
    s = Settings()
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        s.model = "other"  # type: ignore[misc]
