"""The MongoDB path of Sacred logging, against a real MongoDB-wire-protocol server (SecantusDB)."""

from __future__ import annotations

import io
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import gridfs
import pymongo
import pytest
import torch
from sacred.observers import MongoObserver

from recsys.experiment import ex
from recsys.observers import observers_for
from tests.conftest import TEST_USER


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def mongo_url(tmp_path: Path) -> Iterator[str]:
    """A SecantusDB server process on a free local port, stopped after the test."""
    server = shutil.which("secantusd-py", path=str(Path(sys.executable).parent)) or shutil.which(
        "secantusd-py"
    )
    if server is None:
        pytest.fail("secantusd-py is missing: install the dev requirements (make test does)")
    port = _free_port()
    process = subprocess.Popen(
        [server, "--host", "127.0.0.1", "--port", str(port), "--storage-path", str(tmp_path / "db")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"mongodb://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                pymongo.MongoClient(url, serverSelectionTimeoutMS=500).admin.command("ping")
                break
            except pymongo.errors.PyMongoError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"SecantusDB did not start: {process.stderr.read().decode()}"
                    ) from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.slow
def test_training_run_metrics_and_checkpoint_are_stored_in_mongodb(
    recsys_catalogue, mongo_url, tmp_path
) -> None:
    ex.observers[:] = [MongoObserver(url=mongo_url, db_name="lemons_test")]
    try:
        run = ex.run(
            config_updates={
                "user_name": TEST_USER,
                "n_epochs": 2,
                "init": "scratch",
                "progress": False,
                "device": "cpu",
                "save_dir": str(tmp_path / "out"),
            }
        )
    finally:
        ex.observers[:] = []
    db = pymongo.MongoClient(mongo_url)["lemons_test"]
    stored = db.runs.find_one({"_id": run._id})
    assert stored["status"] == "COMPLETED"
    assert stored["config"]["user_name"] == TEST_USER and stored["config"]["n_epochs"] == 2
    assert stored["result"]["best_epoch"] in (1, 2)
    metrics = {m["name"]: m for m in db.metrics.find({"run_id": run._id})}
    for name in ("train_loss", "val_loss", "val_auc", "val_ap"):
        assert metrics[name]["steps"] == [1, 2], name
    artifact = next(a for a in stored["artifacts"] if a["name"] == "model.pt")
    blob = gridfs.GridFS(db).get(artifact["file_id"]).read()
    assert blob == (tmp_path / "out" / "model.pt").read_bytes()
    checkpoint = torch.load(io.BytesIO(blob), weights_only=True)
    assert checkpoint["user"] == TEST_USER and checkpoint["format"] == "lemons-recommender"


def test_observers_are_chosen_at_run_time(monkeypatch) -> None:
    from lemons.config import get_settings

    assert ex.observers == []  # nothing attached at import time
    kinds = lambda argv: [type(o).__name__ for o in observers_for(argv)]  # noqa: E731
    assert kinds(["with", "user_name=nina"]) == ["FileStorageObserver"]
    assert kinds(["-F", "elsewhere", "with", "user_name=nina"]) == []  # Sacred adds its own
    assert kinds(["-m", "127.0.0.1:27017:lemons"]) == ["FileStorageObserver"]  # Sacred adds Mongo
    assert kinds(["--unobserved"]) == [] and kinds(["print_config"]) == []
    monkeypatch.setenv("LEMONS_MONGO_URL", "mongodb://127.0.0.1:1")
    get_settings.cache_clear()
    assert kinds([]) == ["FileStorageObserver", "MongoObserver"]
