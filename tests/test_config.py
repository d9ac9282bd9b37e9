"""Settings: defaults, config.py and LEMONS_* overrides, and clear errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from lemons.cli import main
from lemons.config import PROJECT_ROOT, SETTING_NAMES, load_settings
from lemons.errors import ConfigError


def test_defaults_need_no_configuration(tmp_path: Path) -> None:
    settings = load_settings(env={})
    assert settings.home == PROJECT_ROOT
    assert settings.data_dir == PROJECT_ROOT / "data"
    assert settings.catalogue_dir == PROJECT_ROOT / "data" / "builtin"
    assert settings.spleeter_model_dir == PROJECT_ROOT / "data" / "pretrained_models"
    assert settings.models_dir == PROJECT_ROOT / "models"
    assert settings.device == "auto" and settings.mongo_url == "" and settings.msd_dir is None


def test_derived_paths_follow_home_and_data_dir(tmp_path: Path) -> None:
    settings = load_settings(env={"LEMONS_HOME": str(tmp_path), "LEMONS_DATA_DIR": str(tmp_path / "d")})
    assert settings.models_dir == tmp_path / "models"
    assert settings.catalogue_dir == tmp_path / "d" / "builtin"
    assert settings.cache_dir == tmp_path / "d" / "cache"


def test_config_file_overrides_defaults_and_env_overrides_file(tmp_path: Path) -> None:
    config = tmp_path / "config.py"
    config.write_text('DATA_DIR = "/srv/lemons"\nDEVICE = "cpu"\nNUM_WORKERS = 4\nhelper = 1\n')
    settings = load_settings(env={"LEMONS_DEVICE": "cuda:1"}, config_file=config)
    assert settings.data_dir == Path("/srv/lemons")
    assert settings.num_workers == 4
    assert settings.device == "cuda:1"
    assert settings.sources["device"] == "$LEMONS_DEVICE"
    assert settings.sources["data_dir"] == str(config)


def test_lemons_config_variable_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "elsewhere.py"
    config.write_text('MONGO_URL = "mongodb://127.0.0.1:27017"\n')
    assert load_settings(env={"LEMONS_CONFIG": str(config)}).mongo_url == "mongodb://127.0.0.1:27017"
    with pytest.raises(ConfigError, match="not a file"):
        load_settings(env={"LEMONS_CONFIG": str(tmp_path / "missing.py")})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LEMONS_DEVICE": "gpu"}, "'auto', 'cpu', 'cuda' or 'cuda:N'"),
        ({"LEMONS_NUM_WORKERS": "two"}, "whole number"),
        ({"LEMONS_NUM_WORKERS": "-1"}, "at least 0"),
        ({"LEMONS_MONGO_URL": "localhost:27017"}, "must start with mongodb://"),
        ({"LEMONS_DATADIR": "/x"}, "Did you mean 'data_dir'"),
        ({"LEMONS_UPLOAD_MAX_MB": "0"}, "'upload_max_mb' must be above 0"),
        ({"LEMONS_UPLOAD_MAX_MINUTES": "ten"}, "'upload_max_minutes' must be a number"),
        ({"LEMONS_CACHE_MAX_GB": "-1"}, "'cache_max_gb' must be at least 0"),
    ],
)
def test_bad_values_say_what_to_do(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env=env)


def test_audio_folder_names_one_folder_or_several(tmp_path: Path) -> None:
    assert load_settings(env={}).audio_folder == ()
    assert load_settings(env={"LEMONS_AUDIO_FOLDER": "/music"}).audio_folder == (Path("/music"),)
    both = load_settings(env={"LEMONS_AUDIO_FOLDER": "/music:/srv/demo"})
    assert both.audio_folder == (Path("/music"), Path("/srv/demo"))
    assert both.as_dict()["audio_folder"] == "/music:/srv/demo"
    config = tmp_path / "config.py"
    config.write_text('AUDIO_FOLDER = ["/music", "/srv/demo"]\n')
    assert load_settings(env={}, config_file=config).audio_folder == both.audio_folder
    config.write_text('AUDIO_FOLDER = "/music"\n')
    assert load_settings(env={}, config_file=config).audio_folder == (Path("/music"),)
    config.write_text("AUDIO_FOLDER = [3]\n")
    with pytest.raises(ConfigError, match="a folder or a list of folders"):
        load_settings(env={}, config_file=config)


def test_unknown_name_in_config_file_is_reported_with_the_file(tmp_path: Path) -> None:
    config = tmp_path / "config.py"
    config.write_text('MODEL_DIR = "/models"\n')
    with pytest.raises(
        ConfigError, match=r"config.py: 'MODEL_DIR' is not a setting. Did you mean 'models_dir'"
    ):
        load_settings(env={}, config_file=config)


def test_broken_config_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "config.py"
    config.write_text("DATA_DIR = \n")
    with pytest.raises(ConfigError, match=r"config\.py failed to load"):
        load_settings(env={}, config_file=config)


def test_template_documents_every_setting() -> None:
    template = (PROJECT_ROOT / "config_template.py").read_text()
    for name in SETTING_NAMES:
        assert f"# {name.upper()} = " in template, name


def test_cli_prints_settings_and_reports_bad_values(monkeypatch, capsys) -> None:
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "catalogue_dir" in out and "$LEMONS_HOME" in out
    monkeypatch.setenv("LEMONS_DEVICE", "tpu")
    from lemons.config import get_settings

    get_settings.cache_clear()
    assert main(["config"]) == 2
    assert "error: setting 'device'" in capsys.readouterr().err
