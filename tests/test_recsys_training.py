"""Training through the Sacred experiment: logged metrics, checkpoints, determinism, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from sacred.observers import FileStorageObserver

from lemons.config import PROJECT_ROOT, get_settings
from lemons.errors import ConfigError, DataError, EvaluationError, UnknownPersonaError
from lemons.interactions import UserSplits, load_splits, save_splits
from recsys.checkpoint import load_checkpoint
from recsys.data import load_dataset
from recsys.experiment import ex
from tests.conftest import TEST_USER

QUICK = {
    "user_name": TEST_USER,
    "n_epochs": 2,
    "init": "scratch",
    "progress": False,
    "num_workers": 1,
    "device": "cpu",
}


def run_training(observers=(), **updates):
    ex.observers[:] = list(observers)
    try:
        return ex.run(config_updates={**QUICK, **updates})
    finally:
        ex.observers[:] = []


def test_run_logs_epoch_metrics_and_saves_a_self_describing_checkpoint(recsys_catalogue, tmp_path) -> None:
    run = run_training([FileStorageObserver(str(tmp_path / "runs"))], save_dir=str(tmp_path / "out"))
    assert run.status == "COMPLETED"
    run_dir = tmp_path / "runs" / str(run._id)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for name in ("train_loss", "val_loss", "val_auc", "val_ap"):
        assert metrics[name]["steps"] == [1, 2], name
    assert (run_dir / "model.pt").is_file()  # the artifact
    recommender = load_checkpoint(tmp_path / "out" / "model.pt")
    assert recommender.user == TEST_USER and recommender.dataset == "builtin"
    assert recommender.data_fingerprint == load_dataset("builtin").fingerprint(TEST_USER)
    assert recommender.config["n_epochs"] == 2 and recommender.selection.startswith("max validation AUC")
    assert recommender.metrics["val_auc"] == max(metrics["val_auc"]["values"])
    assert recommender.metrics["epochs_run"] == 2 and recommender.metrics["device"] == "cpu"
    summary = json.loads((tmp_path / "out" / "training.json").read_text())
    assert len(summary["history"]) == 2 and run.result["checkpoint"] == str(tmp_path / "out" / "model.pt")
    assert not (get_settings().models_dir / f"{TEST_USER}.pt").exists()  # only publish=True publishes


def test_publish_installs_the_model_for_eval_and_the_app(recsys_catalogue) -> None:
    run = run_training(publish=True, n_epochs=1)
    published = get_settings().models_dir / f"{TEST_USER}.pt"
    assert run.result["published"] == str(published)
    assert load_checkpoint(published).user == TEST_USER
    assert Path(run.result["checkpoint"]).parent.parent == get_settings().runs_dir / "checkpoints"


def test_training_is_deterministic_for_a_seed_on_cpu(recsys_catalogue, tmp_path) -> None:
    states = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        run_training(seed=seed, save_dir=str(tmp_path / name))
        states.append(torch.load(tmp_path / name / "model.pt", weights_only=True)["state_dict"])
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert not all(torch.equal(states[0][k], states[2][k]) for k in states[0])


def test_validation_every_n_epochs_keeps_per_epoch_training_loss(recsys_catalogue, tmp_path) -> None:
    run = run_training(
        [FileStorageObserver(str(tmp_path / "runs"))], n_epochs=3, val_every=2, save_dir=str(tmp_path / "o")
    )
    metrics = json.loads((tmp_path / "runs" / str(run._id) / "metrics.json").read_text())
    assert metrics["train_loss"]["steps"] == [1, 2, 3]
    assert metrics["val_auc"]["steps"] == [2, 3]  # and always the last epoch


def test_n_steps_sets_the_number_of_epochs_from_the_data_size(recsys_catalogue, tmp_path) -> None:
    n_train = len(load_splits(recsys_catalogue / "splits.json")[TEST_USER].train)
    batches = -(-n_train // 5)
    run = run_training(n_steps=2 * batches + 1, batch_size=5, patience=0, save_dir=str(tmp_path / "o"))
    assert run.result["epochs_run"] == 3


def test_tensorboard_logs_are_written_when_asked(recsys_catalogue, tmp_path) -> None:
    run_training(n_epochs=1, use_tensorboard=True, save_dir=str(tmp_path / "out"))
    assert list((tmp_path / "out" / "tensorboard").glob("events.out.tfevents.*"))


def test_bf16_training_keeps_float32_weights(recsys_catalogue, tmp_path) -> None:
    run = run_training(n_epochs=1, precision="bf16", save_dir=str(tmp_path / "out"))
    recommender = load_checkpoint(tmp_path / "out" / "model.pt")
    assert recommender.config["precision"] == "bf16" and 0.0 <= run.result["val_auc"] <= 1.0
    weights = [v for v in recommender.model.state_dict().values() if v.is_floating_point()]
    assert all(v.dtype == torch.float32 for v in weights)


def test_unknown_user_and_bad_values_fail_before_anything_is_written(recsys_catalogue, tmp_path) -> None:
    with pytest.raises(UnknownPersonaError, match=r"unknown user 'nobody'.*tester"):
        run_training(user_name="nobody", save_dir=str(tmp_path / "out"))
    with pytest.raises(ConfigError, match="batch_size must be a positive whole number"):
        run_training(batch_size=0, save_dir=str(tmp_path / "out"))
    with pytest.raises(ConfigError, match="precision must be one of fp32, bf16"):
        run_training(precision="fp16", save_dir=str(tmp_path / "out"))
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="sees no CUDA GPU"):
            run_training(device="cuda", save_dir=str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_empty_or_single_class_splits_are_clear_errors(recsys_catalogue, tmp_path) -> None:
    path = recsys_catalogue / "splits.json"
    splits = load_splits(path)
    mine = splits[TEST_USER]
    positives_only = tuple(item for item in mine.val if item[1] == 1)
    for train, val, error, message in (
        (mine.train, positives_only, EvaluationError, "validation split holds only positives"),
        (mine.train, (), EvaluationError, "validation split is empty"),
        ((), mine.val, DataError, "training split is empty"),
    ):
        splits[TEST_USER] = UserSplits(TEST_USER, train, val, mine.test)
        save_splits(path, splits.values())
        with pytest.raises(error, match=message):
            run_training(save_dir=str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def _script(cwd: Path, script: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, script, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
@pytest.mark.parametrize("where", ["root", "recsys"])
def test_command_line_from_the_root_and_from_recsys(recsys_catalogue, where: str) -> None:
    cwd = PROJECT_ROOT if where == "root" else PROJECT_ROOT / "recsys"
    script = "recsys/experiment.py" if where == "root" else "experiment.py"
    done = _script(
        cwd, script, "with", f"user_name={TEST_USER}", "n_epochs=1", "init=scratch", "progress=False"
    )
    assert done.returncode == 0, done.stderr
    assert "best epoch 1 of 1" in done.stdout
    runs = get_settings().runs_dir
    assert (runs / "1" / "run.json").is_file() and (runs / "1" / "model.pt").is_file()
    assert json.loads((runs / "1" / "run.json").read_text())["status"] == "COMPLETED"
    failed = _script(cwd, script, "with", "user_name=nobody")
    assert failed.returncode == 1
    assert "error: unknown user 'nobody'" in failed.stderr and "Traceback" not in failed.stderr
