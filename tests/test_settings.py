"""settings.py: flags > HUBBUB_* environment > TOML file > defaults; bad input is a ConfigError."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from hubbub.errors import ConfigError
from hubbub.settings import DEFAULT_DATA_DIR, ENV_PREFIX, Settings, load_settings


@pytest.fixture(autouse=True)
def _no_stray_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from an empty directory so that ./hubbub-data/hubbub.toml cannot leak in."""
    monkeypatch.chdir(tmp_path)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    settings = load_settings(environ={})
    assert settings == Settings()
    assert settings.data_dir == Path("hubbub-data") == DEFAULT_DATA_DIR
    assert settings.host == "127.0.0.1"
    assert settings.port == 8080
    assert settings.ws_port == 8081
    assert settings.bus == "memory:"
    assert settings.max_message_chars == 16_384
    assert settings.history_default_count == 100
    assert settings.history_max_count == 500
    assert settings.allow_signup is True


def test_protocol_defaults() -> None:
    """The defaults the wire protocols ask for (shared/protocol/sechat.md §5.6, realtime.md §A.7)."""
    settings = Settings()
    # sechat 3.x reconnects after 45 s without a frame, SmokeDetector restarts after 60 s.
    assert 0 < settings.sechat_keepalive <= 30
    assert settings.stars_per_day == 20
    assert settings.ws_allowed_origins == "*"
    assert (settings.realtime_hb_interval, settings.realtime_hb_data) == (300.0, "hb")
    assert settings.realtime_close_silent is True
    assert settings.realtime_max_topics >= 1000  # SmokeDetector's deletion watcher holds hundreds


def test_env_prefix() -> None:
    assert ENV_PREFIX == "HUBBUB_"


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().port = 1  # type: ignore[misc]


# --- precedence -------------------------------------------------------------------------------


def test_flags_beat_environment_beat_file_beat_defaults(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", "port = 1001\nws_port = 1002\nhost = '10.0.0.3'\n")
    environ = {"HUBBUB_PORT": "2001", "HUBBUB_WS_PORT": "2002"}
    settings = load_settings({"port": 3001}, environ=environ, config_file=config)
    assert settings.port == 3001  # flag
    assert settings.ws_port == 2002  # environment over file
    assert settings.host == "10.0.0.3"  # file over default
    assert settings.bus == "memory:"  # default


def test_a_flag_of_none_falls_through(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", "port = 1001\n")
    assert load_settings({"port": None}, environ={"HUBBUB_PORT": "2001"}, config_file=config).port == 2001
    assert load_settings({"port": None}, environ={}, config_file=config).port == 1001
    assert load_settings({"port": None}, environ={}).port == 8080


def test_environment_names(tmp_path: Path) -> None:
    environ = {
        "HUBBUB_DATA_DIR": str(tmp_path / "data"),
        "HUBBUB_DATABASE": "sqlite:///x.db",
        "HUBBUB_MESSAGE_RATE_PER_SECOND": "2.5",
        "HUBBUB_ALLOW_SIGNUP": "false",
        "HUBBUB_HISTORY_MAX_COUNT": "50",
        "hubbub_port": "1",  # names are upper case
        "PORT": "2",
    }
    settings = load_settings(environ=environ)
    assert settings.data_dir == tmp_path / "data"
    assert settings.database == "sqlite:///x.db"
    assert settings.message_rate_per_second == 2.5
    assert settings.allow_signup is False
    assert settings.history_max_count == 50
    assert settings.port == 8080


def test_unknown_environment_variables_are_ignored() -> None:
    # HUBBUB_CONFIG and the test suite's HUBBUB_TEST_TIMEOUT_FACTOR share the prefix.
    assert load_settings(environ={"HUBBUB_TEST_TIMEOUT_FACTOR": "3", "HUBBUB_NOPE": "x"}) == Settings()


def test_os_environ_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBBUB_PORT", "4242")
    assert load_settings().port == 4242


def test_flags_are_coerced_like_everything_else() -> None:
    settings = load_settings({"port": "9000", "data_dir": "here", "allow_signup": "no"}, environ={})
    assert settings.port == 9000
    assert settings.data_dir == Path("here")
    assert settings.allow_signup is False


# --- the TOML file ----------------------------------------------------------------------------


def test_file_values_are_typed(tmp_path: Path) -> None:
    config = write(
        tmp_path / "c.toml",
        'data_dir = "/srv/hubbub"\nport = 80\nmessage_rate_per_second = 2\nallow_signup = false\nbus = "redis://r:6379/0"\n',
    )
    settings = load_settings(environ={}, config_file=config)
    assert settings.data_dir == Path("/srv/hubbub")
    assert settings.port == 80
    assert settings.message_rate_per_second == 2.0
    assert isinstance(settings.message_rate_per_second, float)
    assert settings.allow_signup is False
    assert settings.bus == "redis://r:6379/0"


def test_tables_flatten_into_prefixed_names(tmp_path: Path) -> None:
    config = write(
        tmp_path / "c.toml",
        "[history]\ndefault_count = 20\nmax_count = 200\n\n[message_rate]\nburst = 3\nper_second = 0.5\n"
        "\n[ws]\nport = 9001\npublic_url = 'wss://chat.example'\n",
    )
    settings = load_settings(environ={}, config_file=config)
    assert settings.history_default_count == 20
    assert settings.history_max_count == 200
    assert settings.message_rate_burst == 3
    assert settings.message_rate_per_second == 0.5
    assert settings.ws_port == 9001
    assert settings.ws_public_url == "wss://chat.example"


def test_nested_tables_and_dashes_flatten(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", "max-message-chars = 1000\n[message.rate]\nburst = 4\n")
    settings = load_settings(environ={}, config_file=config)
    assert settings.max_message_chars == 1000
    assert settings.message_rate_burst == 4


def test_dotted_keys_flatten_like_tables(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", "history.default_count = 7\n")
    assert load_settings(environ={}, config_file=config).history_default_count == 7


def test_unknown_key_in_file_is_refused(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", "port = 80\nprot = 81\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={}, config_file=config)
    assert "prot" in str(caught.value)
    assert str(config) in str(caught.value)


def test_unknown_table_key_is_refused_with_its_flattened_name(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", "[no_such_table]\nhb_interval = 60\n")
    with pytest.raises(ConfigError, match="no_such_table_hb_interval"):
        load_settings(environ={}, config_file=config)


def test_unknown_keys_are_all_named(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", "zeta = 1\nalpha = 2\n")
    with pytest.raises(ConfigError, match="alpha, zeta"):
        load_settings(environ={}, config_file=config)


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", "port = [\n")
    with pytest.raises(ConfigError, match="cannot read configuration file"):
        load_settings(environ={}, config_file=config)


def test_missing_explicit_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read configuration file"):
        load_settings(environ={}, config_file=tmp_path / "absent.toml")


def test_file_named_by_flag(tmp_path: Path) -> None:
    config = write(tmp_path / "elsewhere.toml", "port = 1234\n")
    assert load_settings({"config": config}, environ={}).port == 1234


def test_file_named_by_environment(tmp_path: Path) -> None:
    config = write(tmp_path / "elsewhere.toml", "port = 1234\n")
    assert load_settings(environ={"HUBBUB_CONFIG": str(config)}).port == 1234


def test_flag_file_beats_environment_file(tmp_path: Path) -> None:
    by_flag = write(tmp_path / "flag.toml", "port = 1\n")
    by_env = write(tmp_path / "env.toml", "port = 2\n")
    assert load_settings({"config": by_flag}, environ={"HUBBUB_CONFIG": str(by_env)}).port == 1


def test_missing_file_named_by_environment_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_settings(environ={"HUBBUB_CONFIG": str(tmp_path / "absent.toml")})


def test_file_in_the_default_data_dir_is_found(tmp_path: Path) -> None:
    write(tmp_path / "hubbub-data" / "hubbub.toml", "port = 5555\n")
    assert load_settings(environ={}).port == 5555


def test_file_in_the_data_dir_from_a_flag_is_found(tmp_path: Path) -> None:
    data = tmp_path / "d1"
    write(data / "hubbub.toml", "port = 5556\n")
    settings = load_settings({"data_dir": data}, environ={})
    assert settings.port == 5556
    assert settings.data_dir == data


def test_file_in_the_data_dir_from_the_environment_is_found(tmp_path: Path) -> None:
    data = tmp_path / "d2"
    write(data / "hubbub.toml", "port = 5557\n")
    assert load_settings(environ={"HUBBUB_DATA_DIR": str(data)}).port == 5557


def test_data_dir_without_a_file_is_fine(tmp_path: Path) -> None:
    assert load_settings({"data_dir": tmp_path / "empty"}, environ={}).port == 8080


def test_home_is_expanded_in_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert load_settings(environ={"HUBBUB_DATA_DIR": "~/chat"}).data_dir == tmp_path / "chat"


# --- values -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["1", "true", "TRUE", "yes", "on", " True "])
def test_true_words(text: str) -> None:
    assert load_settings(environ={"HUBBUB_ALLOW_SIGNUP": text}).allow_signup is True


@pytest.mark.parametrize("text", ["0", "false", "False", "no", "off"])
def test_false_words(text: str) -> None:
    assert load_settings({"allow_signup": True}, environ={}).allow_signup is True
    assert load_settings(environ={"HUBBUB_ALLOW_SIGNUP": text}).allow_signup is False


@pytest.mark.parametrize("text", ["", "maybe", "2", "y e s"])
def test_other_words_are_not_booleans(text: str) -> None:
    with pytest.raises(ConfigError, match="allow_signup: expected true or false"):
        load_settings(environ={"HUBBUB_ALLOW_SIGNUP": text})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HUBBUB_PORT", "eighty"),
        ("HUBBUB_PORT", "80.5"),
        ("HUBBUB_PORT", ""),
        ("HUBBUB_MESSAGE_RATE_PER_SECOND", "fast"),
        ("HUBBUB_MESSAGE_RATE_PER_SECOND", ""),
    ],
)
def test_bad_environment_numbers(name: str, value: str) -> None:
    setting = name.removeprefix("HUBBUB_").lower()
    with pytest.raises(ConfigError, match=f"^{setting}: expected"):
        load_settings(environ={name: value})


@pytest.mark.parametrize(
    "line",
    [
        "port = 80.5",
        "port = true",
        "port = 'eighty'",
        "port = [80]",
        "message_rate_per_second = true",
        "message_rate_per_second = 'fast'",
        "allow_signup = 'perhaps'",
        "allow_signup = [true]",
        "host = ['127.0.0.1']",
        "host = 127",
        "log_level = true",
        "database = 1979-05-27",
    ],
)
def test_bad_file_values(tmp_path: Path, line: str) -> None:
    config = write(tmp_path / "c.toml", line + "\n")
    name = line.split(" ", 1)[0]
    with pytest.raises(ConfigError, match=f"^{name}: expected"):
        load_settings(environ={}, config_file=config)


def test_a_numeric_string_in_the_file_is_accepted_for_numbers(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", "port = '8090'\nmessage_rate_per_second = '0.5'\nallow_signup = 'off'\n")
    settings = load_settings(environ={}, config_file=config)
    assert settings.port == 8090
    assert settings.message_rate_per_second == 0.5
    assert settings.allow_signup is False


def test_bad_flag_value() -> None:
    with pytest.raises(ConfigError, match=r"^port: expected int"):
        load_settings({"port": "abc"}, environ={})
    with pytest.raises(ConfigError, match=r"^port: expected int"):
        load_settings({"port": True}, environ={})


def test_bad_value_in_a_lower_source_is_not_read_when_overridden(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", "port = 'eighty'\n")
    assert load_settings({"port": 1}, environ={"HUBBUB_PORT": "x"}, config_file=config).port == 1
