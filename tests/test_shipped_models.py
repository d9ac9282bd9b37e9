"""The shared model and the persona models shipped in models/ (made by `make models`) and their report."""

from __future__ import annotations

import json

import pytest
import torch

from lemons.config import PROJECT_ROOT
from lemons.personas import DEMO_PERSONAS, PERSONA_NAMES
from recsys.checkpoint import load_checkpoint
from recsys.model import ModelArgs
from recsys.pretraining import SHARED_MODEL

MODELS = PROJECT_ROOT / "models"
SHIPPED = PERSONA_NAMES


@pytest.mark.parametrize("persona", SHIPPED)
def test_each_persona_has_a_loadable_self_describing_model(persona: str) -> None:
    path = MODELS / f"{persona}.pt"
    assert path.is_file(), f"{path} is missing; run `make models`"
    assert path.stat().st_size < 2.5e6
    recommender = load_checkpoint(path)
    assert recommender.user == persona and recommender.dataset == "builtin"
    assert recommender.model.args == ModelArgs()
    assert len(recommender.data_fingerprint) == 64
    assert recommender.metrics["device"] == "cpu" and recommender.metrics["train_seconds"] > 0
    assert "+dirty" not in recommender.git_revision  # trained from a committed revision
    with torch.no_grad():
        assert torch.isfinite(recommender.model(torch.randn(1, 16_000))).all()


def test_the_shared_model_is_shipped_and_every_persona_is_fine_tuned_from_it() -> None:
    shared = load_checkpoint(MODELS / f"{SHARED_MODEL}.pt")
    assert shared.model.args.n_outputs == len(shared.targets) > 1
    assert {t["kind"] for t in shared.targets} == {"label", "value", "share"}
    assert "+dirty" not in shared.git_revision
    for persona in SHIPPED:
        recommender = load_checkpoint(MODELS / f"{persona}.pt")
        assert recommender.transfer["sha256"] == shared.checksum  # started from the shipped shared model
        assert recommender.config["init"] == "shared" and recommender.frozen_blocks == 3
        assert recommender.calibration["rule"].endswith("a balanced prior")


def test_the_report_covers_every_persona_and_belongs_to_the_shipped_models() -> None:
    report = json.loads((MODELS / "eval_report.json").read_text())
    rows = {row["user"]: row for row in report["users"]}
    assert set(rows) == set(SHIPPED)
    assert not report["stale_users"]
    for persona in SHIPPED:  # the report belongs to the shipped checkpoint, not an older one
        assert rows[persona]["data_fingerprint"] == load_checkpoint(MODELS / f"{persona}.pt").data_fingerprint
        assert rows[persona]["auc_ci95"][0] <= rows[persona]["auc"] <= rows[persona]["auc_ci95"][1]
        assert 0 <= rows[persona]["ece_balanced"] <= 1
    demo = report["groups"]["demo personas"]
    assert demo["users"] == list(DEMO_PERSONAS)
    assert demo["auc_mean"] == pytest.approx(sum(rows[p]["auc"] for p in DEMO_PERSONAS) / len(DEMO_PERSONAS))
