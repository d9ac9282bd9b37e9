"""Splitting a track into sources: one :class:`Separator` interface, backends registered by name.

Backends, best first (the registry :data:`SEPARATORS`, which the command line and the page read):

- ``reference``: the catalogue's own true stems (the built-in catalogue, musdb18);
- ``spleeter:5stems`` / ``spleeter:4stems`` / ``spleeter:2stems``: Deezer's Spleeter through the
  ``spleeter`` module with its official weights in the ``spleeter_model_dir`` setting.

Spleeter runs at 44.1 kHz on stereo: the 16 kHz mono track is resampled to 44.1 kHz and duplicated
to two channels, separated, each source averaged to mono and resampled back (SPEC §4).
Spleeter results are cached as ``.npz`` keyed by the audio's content hash and the backend.
TensorFlow's start-up lines (and whatever else it writes to standard error while Spleeter loads and
separates) are kept off the terminal unless LEMONS is verbose (:mod:`lemons.console`); a failure
quotes their last lines.
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from lemons.audio import SAMPLE_RATE, resample
from lemons.cache import cache_folder, keep_within_limit, touch
from lemons.catalogue.base import Catalogue
from lemons.config import get_settings
from lemons.console import is_verbose, native_output_captured
from lemons.errors import SeparationError
from lemons.io import load_npz, save_npz, sha256_array
from lemons.registry import Registry
from lemons.weights import missing_checkpoint_files

#: Spleeter's models and their sources, in Spleeter's own order.
SPLEETER_MODELS: dict[str, tuple[str, ...]] = {
    "5stems": ("vocals", "piano", "drums", "bass", "other"),
    "4stems": ("vocals", "drums", "bass", "other"),
    "2stems": ("vocals", "accompaniment"),
}
SPLEETER_RATE = 44_100


@dataclass(frozen=True)
class Separation:
    """Sources of one track: ``stems`` is ``[n_sources, samples]`` float32 at ``sr`` Hz."""

    separator: str
    sources: tuple[str, ...]
    stems: np.ndarray
    sr: int = SAMPLE_RATE

    def as_dict(self) -> dict[str, np.ndarray]:
        """``{source: [samples]}`` at ``sr`` Hz."""
        return dict(zip(self.sources, self.stems, strict=True))


class Separator(ABC):
    """Splits a mono waveform into named sources at the caller's sample rate.

    ``true_stems``: it returns a catalogue's own stems (exact, nothing to cache); ``cacheable``: its
    results are worth caching by audio content (:func:`separate_cached`).
    """

    name: str
    sources: tuple[str, ...]
    true_stems: ClassVar[bool] = False
    cacheable: ClassVar[bool] = True

    @abstractmethod
    def separate(self, audio: np.ndarray, sr: int = SAMPLE_RATE) -> dict[str, np.ndarray]:
        """``audio`` ``[samples]`` at ``sr`` Hz → ``{source: [samples] float32 at sr Hz}``."""

    def separation(self, audio: np.ndarray, sr: int = SAMPLE_RATE) -> Separation:
        """:meth:`separate` as a :class:`Separation`, checked for shape and finite values."""
        stems = self.separate(audio, sr)
        array = np.stack([np.asarray(stems[name], dtype=np.float32) for name in self.sources])
        if array.shape[1] != len(audio):
            raise SeparationError(
                f"{self.name}: sources have {array.shape[1]} samples, the track {len(audio)}"
            )
        if not np.all(np.isfinite(array)):
            raise SeparationError(f"{self.name}: separation produced NaN or infinite samples")
        return Separation(self.name, self.sources, array, sr)


class ReferenceSeparator(Separator):
    """The true stems a catalogue ships for one of its tracks (no separation error at all)."""

    name = "reference"
    true_stems = True
    cacheable = False

    def __init__(self, catalogue: Catalogue, track_id: str) -> None:
        if not catalogue.has_stems:
            raise SeparationError(
                f"the {catalogue.name} catalogue has no true stems; use a spleeter separator"
            )
        self.catalogue, self.track_id = catalogue, track_id
        self.sources = tuple(catalogue.stem_names)

    def separate(self, audio: np.ndarray, sr: int = SAMPLE_RATE) -> dict[str, np.ndarray]:
        """The catalogue's stems of the track, cut or zero-padded to ``len(audio)`` (within 10 ms)."""
        stems = self.catalogue.load_stems(self.track_id, sr=sr)
        n = min(len(audio), *(len(s) for s in stems.values()))
        if len(audio) - n > sr // 100:
            raise SeparationError(
                f"{self.track_id}: the reference stems are {n} samples long, the track {len(audio)}"
            )
        return {name: np.pad(stems[name][:n], (0, len(audio) - n)) for name in self.sources}


_SPLEETER_LOCK = threading.Lock()
_SPLEETER_CACHE: dict[tuple[str, str], Any] = {}
#: Lines of TensorFlow's own output quoted in an error.
NATIVE_TAIL_LINES = 5


def _with_native_tail(message: str, output: str) -> str:
    """``message`` followed by the last lines TensorFlow wrote, where it wrote any."""
    lines = [line for line in output.splitlines() if line.strip()][-NATIVE_TAIL_LINES:]
    return message + ("; TensorFlow said:\n  " + "\n  ".join(lines) if lines else "")


def weights_hint(model: str) -> str:
    """How to get the weights of Spleeter ``model`` (or do without them)."""
    if model == "2stems":
        return "run: lemons setup weights"
    return (
        f"run `lemons setup weights --model {model}` where Deezer's release files can be downloaded, "
        "or use --separator reference or spleeter:2stems"
    )


class SpleeterSeparator(Separator):
    """Deezer's Spleeter (``model`` = ``5stems``, ``4stems`` or ``2stems``) with its official weights.

    Raises:
        SeparationError: the weights are not installed (Spleeter would otherwise try to download them,
            or silently run untrained weights from a folder without a checkpoint).
    """

    def __init__(self, model: str = "5stems", model_dir: Path | str | None = None) -> None:
        if model not in SPLEETER_MODELS:
            raise SeparationError(
                f"unknown Spleeter model {model!r}; use one of {', '.join(SPLEETER_MODELS)}"
            )
        self.model = model
        self.name = f"spleeter:{model}"
        self.sources = SPLEETER_MODELS[model]
        self.model_dir = Path(model_dir or get_settings().spleeter_model_dir).resolve()
        missing = missing_checkpoint_files(self.model_dir, model)
        if missing:
            raise SeparationError(
                f"Spleeter {model} weights are missing from {self.model_dir / model} "
                f"({', '.join(missing)}); {weights_hint(model)}"
            )

    def _spleeter(self) -> Any:
        """Spleeter's separator for the model, built once per process (TensorFlow imported then)."""
        key = (self.model, str(self.model_dir))
        if key not in _SPLEETER_CACHE:
            # TensorFlow reads its C++ log level once, at import; CUDA-probe and start-up noise off
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if is_verbose() else "3")
            import tensorflow as tf
            from spleeter.separator import Separator as Spleeter

            tf.get_logger().setLevel("INFO" if is_verbose() else "ERROR")
            spleeter = Spleeter(f"spleeter:{self.model}", multiprocess=False)
            # An absolute model_dir is used as is: Spleeter never looks at MODEL_PATH or downloads.
            spleeter._params["model_dir"] = str(self.model_dir / self.model)
            _SPLEETER_CACHE[key] = spleeter
        return _SPLEETER_CACHE[key]

    def separate(self, audio: np.ndarray, sr: int = SAMPLE_RATE) -> dict[str, np.ndarray]:
        """Separate at 44.1 kHz stereo (``audio`` twice), each source averaged to mono and back at ``sr``."""
        stereo = np.repeat(resample(audio, sr, SPLEETER_RATE)[:, None], 2, axis=1)
        # one TensorFlow graph per model (Streamlit may call from several threads); what TensorFlow
        # prints while it loads and runs stays off the terminal unless verbose
        with _SPLEETER_LOCK, native_output_captured() as output:
            try:
                prediction = self._spleeter().separate(stereo)
            except Exception as exc:  # TensorFlow raises many kinds
                message = f"{self.name} failed: {type(exc).__name__}: {exc}"
                raise SeparationError(_with_native_tail(message, output())) from exc
        result = {}
        for name in self.sources:
            mono = resample(np.asarray(prediction[name], dtype=np.float32).mean(axis=1), SPLEETER_RATE, sr)
            result[name] = np.pad(mono[: len(audio)], (0, max(0, len(audio) - len(mono))))
        return result


def spleeter_models_installed(model_dir: Path | str | None = None) -> list[str]:
    """Spleeter models whose official weights are complete in ``model_dir`` (best first)."""
    model_dir = model_dir or get_settings().spleeter_model_dir
    return [model for model in SPLEETER_MODELS if not missing_checkpoint_files(model_dir, model)]


@dataclass(frozen=True)
class SeparatorEntry:
    """A separator by name: how to build it for a track, and when it can be used.

    Args:
        name: the name the command line and the page use (``reference``, ``spleeter:2stems``).
        description: a few words for help texts (what its sources are).
        separator_class: the :class:`Separator` it builds (says ``true_stems`` and ``cacheable``).
        build: ``(catalogue, track_id, model_dir) → separator`` for one track of a catalogue.
        available: ``(catalogue, model_dir) → bool``: usable for that catalogue's tracks right now.
        setting: the setting it needs (``spleeter_model_dir``: where its weights are), if any.
    """

    name: str
    description: str
    separator_class: type[Separator]
    build: Callable[[Catalogue | None, str | None, Path], Separator]
    available: Callable[[Catalogue | None, Path], bool]
    setting: str | None = None

    @property
    def true_stems(self) -> bool:
        """Whether it gives a catalogue's true stems (and so needs a catalogue that has them)."""
        return self.separator_class.true_stems

    @property
    def cacheable(self) -> bool:
        """Whether its results are cached by audio content in ``<cache_dir>/separation/``."""
        return self.separator_class.cacheable


def _reference(catalogue: Catalogue | None, track_id: str | None, model_dir: Path) -> Separator:
    if catalogue is None or track_id is None:
        raise SeparationError("the reference separator needs a catalogue track with true stems")
    return ReferenceSeparator(catalogue, track_id)


def spleeter_entry(model: str) -> SeparatorEntry:
    """The registry entry of Spleeter ``model`` (``5stems``, ``4stems``, ``2stems``)."""
    return SeparatorEntry(
        name=f"spleeter:{model}",
        description=f"Deezer's Spleeter: {', '.join(SPLEETER_MODELS[model])}",
        separator_class=SpleeterSeparator,
        build=lambda catalogue, track_id, model_dir: SpleeterSeparator(model, model_dir),
        available=lambda catalogue, model_dir: not missing_checkpoint_files(model_dir, model),
        setting="spleeter_model_dir",
    )


#: The separators, best first: a track's default is the first one available for it.
SEPARATORS: Registry[SeparatorEntry] = Registry("separator", SeparationError)
SEPARATORS.register(
    SeparatorEntry(
        "reference", "the catalogue's true stems", ReferenceSeparator, _reference,
        available=lambda catalogue, model_dir: catalogue is not None and catalogue.has_stems,
    )
)  # fmt: skip
for _model in SPLEETER_MODELS:
    SEPARATORS.register(spleeter_entry(_model))


def available_separators(
    catalogue: Catalogue | None = None, model_dir: Path | str | None = None
) -> list[str]:
    """Separators usable for tracks of ``catalogue`` right now, best first."""
    model_dir = Path(model_dir or get_settings().spleeter_model_dir)
    return [entry.name for entry in SEPARATORS if entry.available(catalogue, model_dir)]


def get_separator(
    name: str | None = None,
    catalogue: Catalogue | None = None,
    track_id: str | None = None,
    model_dir: Path | str | None = None,
) -> Separator:
    """The separator called ``name``, or the best available one for the track when ``name`` is None."""
    if name is None:
        choices = available_separators(catalogue, model_dir)
        if not choices:
            raise SeparationError(
                "no separator is available: install Spleeter's weights (lemons setup weights)"
            )
        name = choices[0]
    entry = SEPARATORS[name]
    return entry.build(catalogue, track_id, Path(model_dir or get_settings().spleeter_model_dir))


def separation_path(
    separator: Separator, audio: np.ndarray, sr: int = SAMPLE_RATE, cache_dir: Path | str | None = None
) -> Path | None:
    """The file in which :func:`separate_cached` keeps ``separator``'s separation of ``audio``
    ``[samples]`` at ``sr`` Hz; ``None`` where nothing is cached (no cache folder, or a separator that
    is not ``cacheable``)."""
    if not separator.cacheable or cache_dir is None:
        return None
    key = sha256_array(np.asarray(audio, dtype=np.float32))
    return cache_folder(cache_dir, "separations") / separator.name.replace(":", "-") / f"{key}-{sr}.npz"


def separate_cached(
    separator: Separator, audio: np.ndarray, sr: int = SAMPLE_RATE, cache_dir: Path | str | None = None
) -> Separation:
    """Separate ``audio`` ``[samples]`` at ``sr`` Hz, reusing ``<cache_dir>/separation/`` for Spleeter.

    The cache key is the audio's SHA-256 and the backend; separators that are not ``cacheable`` (the
    reference stems, read directly) are not cached.
    """
    path = separation_path(separator, audio, sr, cache_dir)
    if path is None:
        return separator.separation(audio, sr)
    if path.is_file():
        try:
            cached = load_npz(path)
            if tuple(str(s) for s in cached["sources"]) == separator.sources:
                touch(path)
                return Separation(separator.name, separator.sources, cached["stems"], sr)
        except (OSError, ValueError, KeyError):
            pass  # unreadable (or just evicted) cache entry: separate again and overwrite it
    separation = separator.separation(audio, sr)
    save_npz(path, stems=separation.stems, sources=np.array(separation.sources))
    keep_within_limit(cache_dir)
    return separation
