"""Self-describing recommender checkpoints, saved atomically and read with ``torch.load(weights_only=True)``.

A checkpoint is a dict of plain values and tensors::

    format, version        "lemons-recommender", 1
    state_dict             the FCN's weights
    model_args             ModelArgs.to_dict(): architecture, front end and its parameters
    user, dataset          whose taste, learned from which dataset
    data_fingerprint       Dataset.fingerprint(user) at training time (splits + audio content)
    config                 the training run's configuration
    metrics                validation metrics of the saved epoch (and test metrics once evaluated)
    selection              the rule that chose the saved epoch
    epoch, git_revision, created, torch_version
    calibration            how the logit was corrected after training (the prior correction), or {}
    transfer               the shared model the weights started from (``init=shared``), or {}
    targets                the shared model's output names and kinds, or []
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from lemons.config import PROJECT_ROOT, Settings, get_settings
from lemons.errors import ModelError
from lemons.io import atomic_path, sha256_file
from recsys.inference import place
from recsys.model import ARCHITECTURE, FCN, FRONT_END, ModelArgs

FORMAT = "lemons-recommender"
VERSION = 1


def git_revision(root: Path = PROJECT_ROOT) -> str:
    """The checkout's commit (``+dirty`` with uncommitted changes), or ``unknown`` outside git.

    Changes under ``models/`` do not count: publishing a model changes it, and ``make models`` trains
    the personas one after another from the same commit.
    """
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)models"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def plain(value: Any) -> Any:
    """``value`` as JSON types only (Sacred's read-only config, paths, numpy scalars → str/float/...)."""
    return json.loads(json.dumps(value, default=str))


def default_model_path(user: str, settings: Settings | None = None) -> Path:
    """Where the published (and shipped) model of ``user`` lives: ``<models_dir>/<user>.pt``."""
    return (settings or get_settings()).models_dir / f"{user}.pt"


def find_model(user: str, settings: Settings | None = None) -> Path:
    """The published model of ``user``, or a :class:`ModelError` naming the users that have one."""
    path = default_model_path(user, settings)
    if not path.is_file():
        available = sorted(p.stem for p in path.parent.glob("*.pt"))
        raise ModelError(
            f"no model for user {user!r} in {path.parent} "
            f"(models exist for: {', '.join(available) or 'nobody'}); "
            f"train one with `python recsys/experiment.py with user_name={user} publish=True`"
        )
    return path


@dataclass
class Recommender:
    """A loaded checkpoint: the model (eval mode) and what it describes about itself."""

    model: FCN
    user: str
    dataset: str
    data_fingerprint: str
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    selection: str = ""
    epoch: int = 0
    git_revision: str = "unknown"
    created: str = ""
    path: Path | None = None
    calibration: dict[str, Any] = field(default_factory=dict)
    transfer: dict[str, Any] = field(default_factory=dict)
    targets: list[dict[str, Any]] = field(default_factory=list)

    @property
    def checksum(self) -> str:
        """SHA-256 of the checkpoint file: a key for caches of this model's scores."""
        if self.path is None:
            raise ModelError("this recommender was not loaded from a file")
        return sha256_file(self.path)

    @property
    def frozen_blocks(self) -> int:
        """How many conv blocks kept the weights the model started from (``freeze_blocks``; 0 = none)."""
        return int(self.config.get("freeze_blocks", 0) or 0)

    def is_stale(self, current_fingerprint: str) -> bool:
        """Whether the model was trained on other data than the dataset now has for its user."""
        return current_fingerprint != self.data_fingerprint


def save_checkpoint(
    path: Path | str,
    model: FCN,
    *,
    user: str,
    dataset: str,
    data_fingerprint: str,
    config: dict[str, Any],
    metrics: dict[str, Any],
    selection: str,
    epoch: int,
    revision: str | None = None,
    calibration: dict[str, Any] | None = None,
    transfer: dict[str, Any] | None = None,
    targets: list[dict[str, Any]] | None = None,
) -> Path:
    """Write ``model`` and its description to ``path`` atomically; returns ``path``."""
    path = Path(path)
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "state_dict": state,
        "model_args": model.args.to_dict(),
        "user": user,
        "dataset": dataset,
        "data_fingerprint": data_fingerprint,
        "config": plain(config),
        "metrics": plain(metrics),
        "selection": selection,
        "epoch": int(epoch),
        "git_revision": revision if revision is not None else git_revision(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "torch_version": str(torch.__version__),
        "calibration": plain(calibration or {}),
        "transfer": plain(transfer or {}),
        "targets": plain(targets or []),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def read_checkpoint(path: Path | str) -> dict[str, Any]:
    """The raw checkpoint dict, checked for format and version (``torch.load(weights_only=True)``)."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(
            f"{path}: no recommender checkpoint there; train one with "
            "`python recsys/experiment.py with user_name=NAME publish=True`"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated, corrupt or unsafe files
        raise ModelError(
            f"{path} is not a readable recommender checkpoint (corrupt, truncated, or not written by "
            f"LEMONS): {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelError(f"{path} is not a LEMONS recommender checkpoint (no {FORMAT!r} format tag)")
    if payload.get("version") != VERSION:
        raise ModelError(
            f"{path} is a version {payload.get('version')} checkpoint; this LEMONS reads version {VERSION}. "
            "Retrain the model or use the LEMONS release that wrote it"
        )
    return payload


def load_checkpoint(path: Path | str, device: str | torch.device = "cpu") -> Recommender:
    """Load a checkpoint into an :class:`FCN` in eval mode on ``device``.

    Raises:
        ModelError: the file is missing or corrupt, or holds another architecture or front end.
    """
    path = Path(path)
    payload = read_checkpoint(path)
    raw_args = payload.get("model_args") or {}
    architecture = raw_args.get("architecture")
    front_end = raw_args.get("front_end")
    if architecture != ARCHITECTURE or front_end != FRONT_END:
        raise ModelError(
            f"{path} holds a {architecture!r} model with a {front_end!r} front end; this LEMONS runs "
            f"{ARCHITECTURE!r} with {FRONT_END!r}. Retrain it with `python recsys/experiment.py`"
        )
    args = ModelArgs.from_dict(raw_args)
    if args.sample_rate != ModelArgs().sample_rate:
        raise ModelError(
            f"{path} expects {args.sample_rate} Hz input; LEMONS feeds {ModelArgs().sample_rate} Hz audio"
        )
    model = FCN(args)
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except (RuntimeError, KeyError, TypeError) as exc:
        raise ModelError(
            f"{path}: the weights do not fit the network its model args describe ({args}); "
            "the file was edited or written by other code"
        ) from exc
    place(model, torch.device(device)).eval()
    return Recommender(
        model=model,
        user=str(payload.get("user", "")),
        dataset=str(payload.get("dataset", "")),
        data_fingerprint=str(payload.get("data_fingerprint", "")),
        config=dict(payload.get("config") or {}),
        metrics=dict(payload.get("metrics") or {}),
        selection=str(payload.get("selection", "")),
        epoch=int(payload.get("epoch", 0)),
        git_revision=str(payload.get("git_revision", "unknown")),
        created=str(payload.get("created", "")),
        path=path,
        calibration=dict(payload.get("calibration") or {}),
        transfer=dict(payload.get("transfer") or {}),
        targets=list(payload.get("targets") or []),
    )
