"""Typed exceptions. Every message says what went wrong and what to do about it."""

from __future__ import annotations


class LemonsError(Exception):
    """Base class of every error LEMONS raises on purpose (the CLI prints these without a traceback)."""


class ConfigError(LemonsError):
    """A setting has a bad value, or a name in ``config.py`` is not a setting."""


class AudioError(LemonsError):
    """An audio file is missing, unreadable, corrupt, silent, too short or not finite."""


class DataError(LemonsError):
    """A dataset or catalogue on disk is missing, incomplete or inconsistent."""


class UnknownPersonaError(LemonsError, KeyError):
    """A persona (user) name that is not defined."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class AccessError(LemonsError):
    """A folder the demo page may not open: outside the folders the operator allowed, or given with ``..``."""


class UploadError(LemonsError):
    """An uploaded file the demo page refuses: too large, too long, or not audio."""


class SeparationError(LemonsError):
    """Source separation cannot run (for example its weights are missing)."""


class SetupError(LemonsError):
    """A set-up step (system packages, model weights) cannot be completed."""


class ModelError(LemonsError):
    """A recommender checkpoint is missing, corrupt, or not one this code can run."""


class EvaluationError(LemonsError):
    """A metric cannot be computed (for example AUC on a split with only one class)."""


class ExplanationError(LemonsError):
    """An explanation cannot be computed (for example the recommender ignores every component)."""
