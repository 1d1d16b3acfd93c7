"""Settings: precedence, project discovery, and one clear line for every bad value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rhythm.config import Settings, find_project_dir, load_settings, setting_fields
from rhythm.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
URL_A = "postgresql://a@db-a/app"
URL_B = "postgresql://b@db-b/app"
URL_C = "postgresql://c@db-c/app"


def _project(tmp_path: Path, pyproject: str = "", rhythm_toml: str | None = None) -> Path:
    (tmp_path / "pyproject.toml").write_text(pyproject)
    if rhythm_toml is not None:
        (tmp_path / "rhythm.toml").write_text(rhythm_toml)
    return tmp_path


def test_defaults_without_any_configuration(tmp_path: Path) -> None:
    settings = load_settings(cwd=tmp_path, environ={})
    assert settings == Settings(project_dir=tmp_path.resolve())
    assert settings.uses_embedded
    assert settings.home_dir == tmp_path.resolve() / ".rhythm"


def test_flag_beats_environment_beats_file(tmp_path: Path) -> None:
    project = _project(tmp_path, f'[tool.rhythm]\ndatabase_url = "{URL_C}"\n')
    env = {"RHYTHM_DATABASE_URL": URL_B}
    assert load_settings(cwd=project, environ={}).database_url == URL_C
    assert load_settings(cwd=project, environ=env).database_url == URL_B
    assert load_settings(cwd=project, environ=env, database_url=URL_A).database_url == URL_A
    # None means "flag not given", so lower layers still apply.
    assert load_settings(cwd=project, environ=env, database_url=None).database_url == URL_B


def test_project_is_found_by_walking_up(tmp_path: Path) -> None:
    project = _project(tmp_path, "[tool.rhythm]\nembedded_port = 6001\n")
    deep = project / "src" / "pkg"
    deep.mkdir(parents=True)
    settings = load_settings(cwd=deep, environ={})
    assert settings.project_dir == project.resolve()
    assert settings.embedded_port == 6001
    assert settings.home_dir == project.resolve() / ".rhythm"
    assert find_project_dir(deep) == project.resolve()


def test_rhythm_toml_wins_over_pyproject(tmp_path: Path) -> None:
    project = _project(tmp_path, "[tool.rhythm]\nembedded_port = 1\n", "embedded_port = 2\n")
    assert load_settings(cwd=project, environ={}).embedded_port == 2


def test_relative_home_is_relative_to_the_project(tmp_path: Path) -> None:
    project = _project(tmp_path, '[tool.rhythm]\nhome = "var/pg"\n')
    assert load_settings(cwd=project, environ={}).home_dir == project.resolve() / "var/pg"
    absolute = load_settings(cwd=project, environ={"RHYTHM_HOME": "/srv/x"})
    assert absolute.home_dir == Path("/srv/x")


def test_environment_values_are_parsed(tmp_path: Path) -> None:
    env = {"RHYTHM_EMBEDDED_PORT": "6543", "RHYTHM_POSTGRES_BIN": "~/pg/bin",
           "RHYTHM_EMBEDDED_MAX_CONNECTIONS": "50", "RHYTHM_DATABASE_URL": ""}
    settings = load_settings(cwd=tmp_path, environ=env)
    assert settings.embedded_port == 6543
    assert settings.postgres_bin == Path("~/pg/bin").expanduser()
    assert settings.embedded_max_connections == 50
    assert settings.database_url is None  # empty means unset


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load_settings(cwd=tmp_path, environ={})
    with pytest.raises(AttributeError):
        settings.embedded_port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"RHYTHM_EMBEDDED_PORT": "http"}, "RHYTHM_EMBEDDED_PORT: embedded_port must be"),
        ({"RHYTHM_EMBEDDED_PORT": "70000"}, "between 1 and 65535"),
        ({"RHYTHM_EMBEDDED_MAX_CONNECTIONS": "0"}, "must be a positive integer"),
        ({"RHYTHM_DATABASE_URL": "mysql://x"}, "must be a postgresql:// URL"),
        ({"RHYTHM_EMBEDDED_USER": "bad user"}, "must be a user name"),
    ],
)
def test_bad_environment_values(tmp_path: Path, environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        load_settings(cwd=tmp_path, environ=environ)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("pyproject", "message"),
    [
        ("[tool.rhythm]\ndatabse_url = 'x'\n", "unknown setting 'databse_url'"),
        ("[tool.rhythm\n", "invalid TOML"),
        ("[tool.rhythm]\nembedded_port = true\n", "embedded_port must be an integer"),
        ("[tool]\nrhythm = 3\n", "[tool.rhythm] must be a table"),
    ],
)
def test_bad_project_file(tmp_path: Path, pyproject: str, message: str) -> None:
    _project(tmp_path, pyproject)
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        load_settings(cwd=tmp_path, environ={})
    assert "pyproject.toml" in str(caught.value)


def test_unknown_override_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown setting 'nope'"):
        load_settings(cwd=tmp_path, environ={}, nope=1)


def test_every_setting_is_documented() -> None:
    docs = (REPO / "docs" / "configuration.md").read_text()
    for spec in setting_fields():
        assert f"`{spec.name}`" in docs, spec.name
        assert f"`{spec.metadata['env']}`" in docs, spec.metadata["env"]
        assert spec.metadata["env"] == "RHYTHM_" + spec.name.upper()
