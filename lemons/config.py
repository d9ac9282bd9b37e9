"""Settings: working defaults, overridden by an optional ``config.py`` and by ``LEMONS_*`` variables.

Precedence, lowest to highest:

1. the defaults below (every setting has one, so nothing has to be configured first);
2. ``config.py`` in the project root, or the file named by ``LEMONS_CONFIG``
   (copy ``config_template.py`` to start one; it is git-ignored);
3. environment variables ``LEMONS_<NAME>`` (for example ``LEMONS_DATA_DIR=/data/lemons``).

``lemons config`` prints the effective settings and where each came from.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from lemons.errors import ConfigError

ENV_PREFIX = "LEMONS_"
PACKAGE_DIR = Path(__file__).resolve().parent


def _default_home() -> Path:
    """The source checkout when LEMONS runs from one (``setup.py`` beside the package), else ``~/.lemons``."""
    root = PACKAGE_DIR.parent
    if (root / "setup.py").is_file():
        return root
    return Path.home() / ".lemons"


PROJECT_ROOT = _default_home()

_PATH_SETTINGS = (
    "home",
    "data_dir",
    "catalogue_dir",
    "models_dir",
    "runs_dir",
    "cache_dir",
    "spleeter_model_dir",
)
_OPTIONAL_PATH_SETTINGS = ("msd_dir", "musdb_dir")


@dataclass(frozen=True)
class Settings:
    """Every setting of LEMONS.

    Paths left as ``None`` for the derived directories are filled in from ``home``/``data_dir``.
    """

    home: Path = PROJECT_ROOT
    data_dir: Path | None = None  # default: home / "data"
    catalogue_dir: Path | None = None  # built-in catalogue; default: data_dir / "builtin"
    models_dir: Path | None = None  # trained recommender checkpoints; default: home / "models"
    runs_dir: Path | None = None  # Sacred FileStorage runs; default: home / "runs"
    cache_dir: Path | None = None  # separation / explanation caches; default: data_dir / "cache"
    spleeter_model_dir: Path | None = None  # Spleeter's MODEL_PATH; default: data_dir / "pretrained_models"
    msd_dir: Path | None = None  # Million Song Dataset + Taste Profile root (optional)
    musdb_dir: Path | None = None  # musdb18 / musdb18hq root (optional)
    #: folders of the user's own audio (optional): a path, a list of paths, or paths joined by ":"
    #: (os.pathsep); the demo page opens typed-in folders only inside these
    audio_folder: tuple[Path, ...] = ()
    upload_max_mb: float = 50.0  # the page refuses uploaded files larger than this (MiB)
    upload_max_minutes: float = 10.0  # ... and longer than this
    upload_max_age_hours: float = 24.0  # an upload unused this long is removed (else: when its session ends)
    cache_max_gb: float = 10.0  # size limit of the caches under cache_dir (GB); 0: no limit
    device: str = "auto"  # "auto" (CUDA when available), "cpu", "cuda" or "cuda:N"
    num_workers: int = 2  # worker processes for builds and data loading
    mongo_url: str = ""  # e.g. "mongodb://127.0.0.1:27017"; empty: no MongoObserver
    mongo_db: str = "lemons"
    sources: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 - frozen dataclass
        for name in _PATH_SETTINGS + _OPTIONAL_PATH_SETTINGS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                if not isinstance(value, str | os.PathLike) or str(value) == "":
                    if name in _OPTIONAL_PATH_SETTINGS and value == "":
                        set_(name, None)
                        continue
                    raise ConfigError(f"setting {name!r} must be a path, got {value!r}")
                set_(name, Path(value))
            if getattr(self, name) is not None:
                set_(name, getattr(self, name).expanduser())
        defaults = {
            "data_dir": lambda: self.home / "data",
            "catalogue_dir": lambda: self.data_dir / "builtin",
            "models_dir": lambda: self.home / "models",
            "runs_dir": lambda: self.home / "runs",
            "cache_dir": lambda: self.data_dir / "cache",
            "spleeter_model_dir": lambda: self.data_dir / "pretrained_models",
        }
        for name, default in defaults.items():
            if getattr(self, name) is None:
                set_(name, default())
        set_("audio_folder", _check_folders("audio_folder", self.audio_folder))
        for name in ("upload_max_mb", "upload_max_minutes", "upload_max_age_hours"):
            set_(name, _check_number(name, getattr(self, name), positive=True))
        set_("cache_max_gb", _check_number("cache_max_gb", self.cache_max_gb, positive=False))
        set_("device", _check_device(self.device))
        set_("num_workers", _check_int("num_workers", self.num_workers, minimum=0))
        if self.mongo_url and not str(self.mongo_url).startswith(("mongodb://", "mongodb+srv://")):
            raise ConfigError(
                f"setting 'mongo_url' must start with mongodb:// (got {self.mongo_url!r}); "
                "leave it empty to log runs to files only"
            )
        if not self.mongo_db:
            raise ConfigError("setting 'mongo_db' must not be empty")

    def resolved_device(self) -> str:
        """``device`` with ``auto`` resolved: ``cuda`` when PyTorch sees a GPU, else ``cpu``."""
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def as_dict(self) -> dict[str, Any]:
        """Settings as plain strings/numbers (for printing and for run configs)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "sources":
                continue
            value = getattr(self, f.name)
            if isinstance(value, tuple):  # several folders, written as the environment variable takes them
                value = os.pathsep.join(str(path) for path in value)
            out[f.name] = str(value) if isinstance(value, Path) else value
        return out


SETTING_NAMES = tuple(f.name for f in dataclasses.fields(Settings) if f.name != "sources")


def _check_device(value: Any) -> str:
    text = str(value).strip().lower()
    if text in ("auto", "cpu", "cuda"):
        return text
    if text.startswith("cuda:") and text[5:].isdigit():
        return text
    raise ConfigError(f"setting 'device' must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {value!r}")


def _check_folders(name: str, value: Any) -> tuple[Path, ...]:
    """A folder setting that may name several: a path, a list of paths, or paths joined by ``os.pathsep``."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [part for part in value.split(os.pathsep) if part]
    elif isinstance(value, os.PathLike):
        value = [value]
    if not isinstance(value, list | tuple) or not all(
        isinstance(part, str | os.PathLike) and str(part) for part in value
    ):
        raise ConfigError(f"setting {name!r} must be a folder or a list of folders, got {value!r}")
    return tuple(Path(part).expanduser() for part in value)


def _check_number(name: str, value: Any, positive: bool) -> float:
    """A number setting: above 0 when ``positive``, else at least 0."""
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ConfigError(f"setting {name!r} must be a number, got {value!r}") from None
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        raise ConfigError(f"setting {name!r} must be {'above' if positive else 'at least'} 0, got {value!r}")
    return number


def _check_int(name: str, value: Any, minimum: int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"setting {name!r} must be a whole number, got {value!r}") from None
    if number < minimum:
        raise ConfigError(f"setting {name!r} must be at least {minimum}, got {number}")
    return number


def _unknown(name: str, where: str) -> ConfigError:
    close = difflib.get_close_matches(name.lower().removeprefix(ENV_PREFIX.lower()), SETTING_NAMES, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ConfigError(
        f"{where}: {name!r} is not a setting.{hint} Valid settings: {', '.join(SETTING_NAMES)}"
    )


def _read_config_file(path: Path) -> dict[str, Any]:
    """Upper-case names of a ``config.py`` (``DATA_DIR = ...``) as lower-case setting names."""
    spec = importlib.util.spec_from_file_location("_lemons_user_config", path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot read config file {path}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a user's file: report any failure with its name
        raise ConfigError(f"config file {path} failed to load: {exc}") from exc
    values = {}
    for key, value in vars(module).items():
        if not key.isupper():
            continue
        name = key.lower()
        if name not in SETTING_NAMES:
            raise _unknown(key, str(path))
        values[name] = value
    return values


def load_settings(env: Mapping[str, str] | None = None, config_file: Path | str | None = None) -> Settings:
    """Build the settings from defaults, a config file and ``LEMONS_*`` variables.

    Args:
        env: environment to read (default ``os.environ``).
        config_file: explicit config file; default ``$LEMONS_CONFIG`` or ``<project root>/config.py``
            when that file exists.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if config_file is None and env.get(ENV_PREFIX + "CONFIG"):
        config_file = env[ENV_PREFIX + "CONFIG"]
        if not Path(config_file).is_file():
            raise ConfigError(f"LEMONS_CONFIG points to {config_file}, which is not a file")
    if config_file is None and (PROJECT_ROOT / "config.py").is_file():
        config_file = PROJECT_ROOT / "config.py"
    if config_file is not None:
        for name, value in _read_config_file(Path(config_file)).items():
            values[name] = value
            sources[name] = str(config_file)
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX) or key == ENV_PREFIX + "CONFIG":
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name not in SETTING_NAMES:
            if name in ("venv", "python", "malloc_defaults"):  # the Makefile's; lemons.allocator's opt-out
                continue
            raise _unknown(key, "environment")
        values[name] = value
        sources[name] = f"${key}"
    return Settings(**values, sources=sources)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once; tests call ``get_settings.cache_clear()``)."""
    return load_settings()
