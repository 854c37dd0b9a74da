"""Settings: every one documented, environment and .env parsing, derived defaults."""

from pathlib import Path

import pytest

from config import SETTINGS, load_config, redis_url
from vidlib.cli import COMMANDS

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_is_documented():
    text = (ROOT / "docs" / "configuration.md").read_text()
    undocumented = [s.name for s in SETTINGS if f"`VIDLIB_{s.name}`" not in text]
    assert undocumented == []


def test_every_setting_has_help_and_known_type():
    for setting in SETTINGS:
        assert setting.help.strip(), setting.name
        assert setting.type in {"str", "int", "float", "bool", "list", "path"}, setting.name


def test_every_cli_command_is_documented():
    text = (ROOT / "README.md").read_text() + (ROOT / "docs" / "operations.md").read_text()
    assert [c.name for c in COMMANDS if f"flask --app vidlib {c.name}" not in text] == []


def test_environment_overrides_defaults_and_types(tmp_path):
    env = {"VIDLIB_DATA_DIR": str(tmp_path / "d"), "VIDLIB_PORT": "9001", "VIDLIB_SCAN_ON_START": "no", "VIDLIB_VIDEO_EXTENSIONS": ".MP4, mkv"}
    config = load_config(environ=env)
    assert config["PORT"] == 9001
    assert config["SCAN_ON_START"] is False
    assert config["VIDEO_EXTENSIONS"] == ["mp4", "mkv"]
    assert config["MEDIA_DIR"] == str(tmp_path / "d" / "media")
    assert redis_url(config) == f"unix://{tmp_path / 'd' / 'redis.sock'}"


def test_env_file_is_read_and_environment_wins(tmp_path):
    env_file = tmp_path / "vidlib.env"
    env_file.write_text("VIDLIB_PORT=7000\nVIDLIB_LOG_LEVEL=DEBUG\n")
    config = load_config(environ={"VIDLIB_ENV_FILE": str(env_file), "VIDLIB_PORT": "7100", "VIDLIB_DATA_DIR": str(tmp_path)})
    assert config["PORT"] == 7100
    assert config["LOG_LEVEL"] == "DEBUG"


def test_bad_value_names_the_variable(tmp_path):
    with pytest.raises(ValueError, match="VIDLIB_PORT"):
        load_config(environ={"VIDLIB_PORT": "eighty", "VIDLIB_DATA_DIR": str(tmp_path)})


def test_default_data_dir_is_per_user_not_cwd(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    config = load_config(environ={})
    assert config["DATA_DIR"] == str(tmp_path / "xdg" / "vidlib")
