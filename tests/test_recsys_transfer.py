"""The shared FCN, transfer to a user's model, the prior correction and silent negatives."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from lemons.catalogue.base import STEMS, Track
from lemons.config import get_settings
from lemons.errors import ConfigError, DataError, ModelError
from recsys import pretraining
from recsys.checkpoint import load_checkpoint
from recsys.data import load_dataset, load_split
from recsys.experiment import ex as train_ex
from recsys.features import prefix_hash
from recsys.inference import score_waveforms
from recsys.model import FCN, ModelArgs
from recsys.pretrain import ex as pretrain_ex
from recsys.pretraining import (
    REMIX_GAIN_DB,
    STEM_BLOCK,
    PretrainConfig,
    StemData,
    Target,
    catalogue_targets,
    crop_shares,
    pretrain,
    remix_crops,
    remix_gains,
    stem_energies,
    target_loss,
    training_batch,
)
from recsys.ranking import rank_tracks
from recsys.train import silent_crops
from recsys.transfer import calibrate, platt_calibration, prior_offset
from tests.conftest import TEST_USER

QUICK = {"progress": False, "num_workers": 1, "device": "cpu"}


def train_user(out, **updates):
    """A one-epoch run of the test user's training saved to ``out`` (``updates`` override the config)."""
    config = {**QUICK, "user_name": TEST_USER, "n_epochs": 1, "save_dir": str(out)}
    return train_ex.run(config_updates={**config, **updates})


def pretrain_shared(**updates):
    config = {**QUICK, "n_steps": 2, "batch_size": 4, "val_every": 1, "min_tag_count": 2, "publish": True}
    return pretrain_ex.run(config_updates={**config, **updates}).result


def test_targets_are_the_catalogues_labels_and_z_scored_values(recsys_catalogue) -> None:
    tracks = load_dataset("builtin").catalogue.tracks
    targets, values = catalogue_targets(tracks, min_tag_count=2)
    names = [t.name for t in targets]
    assert values.shape == (len(tracks), len(targets))
    genres = [n for n in names if n.startswith("genre:")]
    assert len(genres) == len({t.genre for t in tracks})
    assert (values[:, : len(genres)].sum(axis=1) == 1).all()  # one genre per track
    for name in ("tempo", "loudness"):
        column = values[:, names.index(name)]
        assert abs(column.mean()) < 1e-5 and abs(column.std() - 1) < 1e-4
    assert {t.kind for t in targets} == {"label", "value"}


def test_share_targets_are_the_stems_energy_shares_in_the_crop_heard() -> None:
    block = STEM_BLOCK
    stems = {s: np.zeros(8 * block, np.float32) for s in STEMS}
    stems["piano"][: 4 * block] = 0.5  # the piano plays in the first half only
    stems["drums"][:] = 0.5
    energies = [stem_energies(stems)]
    assert energies[0].shape == (len(STEMS), 8)
    piano, drums = STEMS.index("piano"), STEMS.index("drums")
    first_half, second_half = crop_shares(energies, [0, 0], np.array([0, 4 * block]), 4 * block)
    assert first_half[piano] == pytest.approx(0.5) and first_half[drums] == pytest.approx(0.5)
    assert second_half[piano] == 0 and second_half[drums] == 1
    track = Track(id="t", title="t", artist="a", genre="rock", tempo=100.0, loudness=-10.0)
    targets, values = catalogue_targets([track, replace(track, id="u", genre="pop")], energies * 2, 1)
    assert [t.name for t in targets][-len(STEMS) :] == [f"share:{s}" for s in STEMS]
    assert values[0, -len(STEMS) + piano] == pytest.approx(1 / 3)  # the whole track's share
    silent = stem_energies({s: np.zeros(2 * block, np.float32) for s in STEMS})
    assert np.isnan(crop_shares([silent], [0], np.array([0]), 2 * block)).all()  # left out of the loss


def test_a_remixed_crop_is_the_stems_at_their_gains_and_its_shares_follow_the_new_mix() -> None:
    block = STEM_BLOCK
    rng = np.random.default_rng(0)
    stems = rng.standard_normal((len(STEMS), 8 * block)).astype(np.float32)
    energies = [stem_energies(dict(zip(STEMS, stems, strict=True)))]
    gains = remix_gains(200, 0.5, rng)
    remixed = (gains != 1).any(axis=1)
    assert 60 < remixed.sum() < 140  # about half the crops
    assert (gains[remixed] > 0).any(axis=1).all()  # a remix keeps at least one stem
    assert (gains[remixed] == 0).any() and (gains[remixed] > 1).any()  # stems muted, others louder
    kept = gains[remixed][gains[remixed] > 0]
    assert (
        kept.min() >= 10 ** (-REMIX_GAIN_DB / 20) - 1e-6 and kept.max() <= 10 ** (REMIX_GAIN_DB / 20) + 1e-6
    )

    piano, drums = STEMS.index("piano"), STEMS.index("drums")
    only_drums = np.zeros((1, len(STEMS)), np.float32)
    only_drums[0, drums] = 2.0
    crop = remix_crops([stems], [0], np.array([block]), 4 * block, only_drums)
    np.testing.assert_allclose(crop[0], 2.0 * stems[drums, block : 5 * block], rtol=1e-6)
    shares = crop_shares(energies, [0], np.array([block]), 4 * block, only_drums)[0]
    assert shares[drums] == pytest.approx(1.0) and shares[piano] == 0
    as_is = remix_crops([stems], [0], np.array([0]), 4 * block, np.ones((1, len(STEMS)), np.float32))
    np.testing.assert_allclose(as_is[0], stems[:, : 4 * block].sum(axis=0), rtol=1e-5, atol=1e-5)


def test_remixed_crops_keep_their_labels_and_leave_out_the_values() -> None:
    block = STEM_BLOCK
    stems = np.ones((len(STEMS), 80 * block), np.float16)
    stem_data = StemData([stem_energies(dict(zip(STEMS, stems.astype(np.float32), strict=True)))], [stems])
    kinds = ["label", "value", *["share"] * len(STEMS)]
    values = torch.tensor([[1.0, 0.5, *[0.2] * len(STEMS)]])
    config = PretrainConfig(batch_size=64, input_length=16 * block, remix=0.5)
    batch, targets = training_batch(
        [stems.sum(axis=0).astype(np.float32)], values, stem_data, kinds, config, np.random.default_rng(1)
    )
    remixed = ~np.isclose(batch.std(axis=1) + np.abs(batch.mean(axis=1) - 5), 0)
    assert 0 < remixed.sum() < len(batch)
    assert (targets[:, 0] == 1).all()  # the labels stay
    assert torch.isnan(targets[remixed, 1]).all() and (targets[~remixed, 1] == 0.5).all()
    assert torch.allclose(targets[:, 2:].sum(axis=1), torch.ones(len(batch)))


def test_target_loss_ignores_missing_values_and_mixes_bce_with_squared_error() -> None:
    outputs = torch.tensor([[0.0, 2.0], [0.0, 1.0]])
    values = torch.tensor([[1.0, 1.0], [0.0, float("nan")]])
    expected = math.log(2) + 1.0  # BCE of logit 0 is log 2 for either label; (2 - 1)² on the known value
    assert float(target_loss(outputs, values, ["label", "value"])) == pytest.approx(expected)
    outputs = torch.tensor([[0.0, -1.0, -3.0]])  # 1 label, 2 shares learnt as levels (log10 of the share)
    shares = torch.tensor([[1.0, 0.1, 0.0]])  # 0.1 is -1 bel: no loss; 0 counts as the floor, -30 dB
    assert float(target_loss(outputs, shares, ["label", "share", "share"])) == pytest.approx(math.log(2))
    louder = torch.tensor([[0.0, 0.0, -3.0]])  # each kind weighs the same: (0 - (-1))² / 2 stems
    assert float(target_loss(louder, shares, ["label", "share", "share"])) == pytest.approx(math.log(2) + 0.5)
    weighed = target_loss(louder, shares, ["label", "share", "share"], share_weight=4)  # shares count 4 times
    assert float(weighed) == pytest.approx(math.log(2) + 2.0)
    with pytest.raises(ConfigError, match="share_weight must be a number from 0 up"):
        PretrainConfig(share_weight=-1)


def test_a_further_stage_draws_new_crops_with_its_own_crop_seed() -> None:
    def first_draws(**settings) -> np.ndarray:
        run = pretraining.PretrainRun(PretrainConfig(**settings), 2, torch.device("cpu"), "data")
        return run.rng.random(8)

    assert np.array_equal(first_draws(), first_draws(crop_seed=0))  # unset: the crops of `seed`
    assert not np.array_equal(first_draws(), first_draws(crop_seed=1))
    assert np.array_equal(first_draws(seed=3, crop_seed=1), first_draws(crop_seed=1))
    with pytest.raises(ConfigError, match="crop_seed must be a whole number or None"):
        PretrainConfig(crop_seed=1.5)


def test_the_shared_model_is_published_and_a_user_model_starts_from_it(recsys_catalogue, tmp_path) -> None:
    result = pretrain_shared()
    shared = load_checkpoint(result["published"])
    assert shared.model.args.n_outputs == len(shared.targets) > 2 and shared.user == ""
    assert {t["kind"] for t in shared.targets} == {"label", "value", "share"}

    user_model = FCN(ModelArgs())
    user_model.load_backbone(shared.model)
    for name, value in user_model.state_dict().items():
        if not name.startswith("dense."):
            assert torch.equal(value, shared.model.state_dict()[name]), name
    # so the shared model's cached block outputs serve every user fine-tuned from it, and no other
    assert prefix_hash(user_model, 3) == prefix_hash(shared.model, 3) != prefix_hash(FCN(ModelArgs()), 3)

    run = train_user(tmp_path / "o", init="shared")
    assert run.config["lr"] == 3e-4 and run.config["freeze_blocks"] == 3
    recommender = load_checkpoint(tmp_path / "o" / "model.pt")
    assert recommender.transfer["sha256"] == shared.checksum
    assert recommender.model.args.n_outputs == 1


def test_the_shared_model_can_be_trained_further_from_where_it_was(recsys_catalogue, tmp_path) -> None:
    first = load_checkpoint(pretrain_shared()["published"])
    further = pretrain_shared(init="shared", share_weight=4.0, publish=False, save_dir=str(tmp_path / "more"))
    second = load_checkpoint(further["checkpoint"])
    assert second.transfer == {"from": "shared", "sha256": first.checksum}
    assert second.targets == first.targets and second.config["share_weight"] == 4.0
    assert any(not torch.equal(v, second.model.state_dict()[k]) for k, v in first.model.state_dict().items())
    still = pretrain_shared(init="shared", lr=0.0, publish=False, save_dir=str(tmp_path / "still"))
    unmoved = dict(load_checkpoint(still["checkpoint"]).model.named_parameters())  # it starts from `first`
    for name, value in first.model.named_parameters():
        assert torch.equal(value, unmoved[name]), name

    with pytest.raises(ModelError, match=r"no shared model at .*leave init empty"):
        pretrain_shared(init=str(tmp_path / "missing.pt"), publish=False, save_dir=str(tmp_path / "none"))
    with pytest.raises(ConfigError, match="trained on other targets"):
        pretrain_shared(init="shared", stem_shares=False, publish=False, save_dir=str(tmp_path / "other"))


def test_init_shared_without_a_shared_model_says_how_to_make_one(recsys_catalogue, tmp_path) -> None:
    with pytest.raises(ModelError, match=r"recsys/pretrain.py with publish=True.*init=scratch"):
        train_user(tmp_path / "o", init="shared")
    assert not (tmp_path / "o").exists()
    scratch = train_user(tmp_path / "s", init="scratch")
    assert scratch.config["lr"] == 1e-3 and load_checkpoint(tmp_path / "s" / "model.pt").transfer == {}


def test_the_prior_correction_shifts_every_logit_by_log_negatives_over_positives(
    recsys_catalogue, tmp_path
) -> None:
    logits = {}
    for corrected in (False, True):
        out = tmp_path / str(corrected)
        train_user(out, init="scratch", calibration="prior" if corrected else "none")
        recommender = load_checkpoint(out / "model.pt")
        test = load_split(load_dataset("builtin"), TEST_USER, "test", progress=False)
        logits[corrected] = score_waveforms(recommender.model, test.waveforms)
        if corrected:
            train_labels = load_dataset("builtin").user(TEST_USER).labels("train")
            expected = math.log((train_labels == 0).sum() / train_labels.sum())
            assert recommender.calibration["prior_logit_offset"] == pytest.approx(expected)
            assert recommender.calibration["train_positives"] == int(train_labels.sum())
        else:
            assert recommender.calibration == {}
    offset = logits[True] - logits[False]
    assert np.allclose(offset, offset[0], atol=1e-5) and offset[0] == pytest.approx(expected, abs=1e-5)


def test_silent_negatives_are_silence_and_near_silent_noise() -> None:
    crops = silent_crops(4, 16000, np.random.default_rng(0))
    assert crops.shape == (4, 16000) and crops.dtype == np.float32
    assert not crops[0].any() and not crops[2].any()
    for row in (1, 3):
        level = 20 * np.log10(np.sqrt(np.mean(crops[row] ** 2)))
        assert -91 < level < -49


def test_no_shared_model_file_is_left_in_models_without_publish(recsys_catalogue, tmp_path) -> None:
    result = pretrain_shared(publish=False, save_dir=str(tmp_path / "shared"))
    assert "published" not in result and not (get_settings().models_dir / "shared.pt").exists()
    assert load_checkpoint(tmp_path / "shared" / "model.pt").metrics["val_loss"] == result["val_loss"]


def test_fine_tuning_keeps_the_frozen_blocks_and_caches_their_features(recsys_catalogue, tmp_path) -> None:
    shared = load_checkpoint(pretrain_shared()["published"])
    train_user(tmp_path / "o", init="shared", n_epochs=2)
    recommender = load_checkpoint(tmp_path / "o" / "model.pt")
    model = recommender.model
    assert recommender.config["freeze_blocks"] == 3
    before, after = shared.model.state_dict(), model.state_dict()
    frozen = ("spec_bn.", "blocks.0.", "blocks.1.", "blocks.2.")
    assert all(torch.equal(after[k], before[k]) for k in after if k.startswith(frozen))  # BN stats too
    assert not torch.equal(after["blocks.3.0.weight"], before["blocks.3.0.weight"])
    cached = list((get_settings().cache_dir / "features").glob("*/*.npy"))
    data = load_dataset("builtin")
    splits = data.user(TEST_USER)
    assert len(cached) == len(splits.train) + len(splits.val)

    cache_dir = get_settings().cache_dir
    rank_tracks(recommender, data.catalogue, cache_dir=cache_dir, progress=False, feature_cache_max_tracks=1)
    assert len(list((cache_dir / "features").glob("*/*.npy"))) == len(cached)  # too many to cache
    (cache_dir / "scores" / f"{recommender.checksum}.json").unlink()
    ranking = rank_tracks(recommender, data.catalogue, cache_dir=cache_dir, progress=False)
    assert len(list((get_settings().cache_dir / "features").glob("*/*.npy"))) == len(data.catalogue)
    ranked = ranking.top(len(ranking.tracks))
    audio = [data.catalogue.load_audio(r.track_id) for r in ranked]
    exact = score_waveforms(model, audio)  # the whole model on whole tracks
    assert np.allclose([r.logit for r in ranked], exact, atol=1e-4)


def test_stored_features_give_the_models_own_scores(recsys_catalogue) -> None:
    from recsys.features import FeatureStore, feature_width

    torch.manual_seed(0)
    model = FCN(ModelArgs()).eval()
    test = load_split(load_dataset("builtin"), TEST_USER, "test", progress=False)
    store = FeatureStore(model, 3, get_settings().cache_dir)
    features = store.features(test.waveforms)
    again = store.features(test.waveforms)  # from the cache
    assert all(np.array_equal(a, b) for a, b in zip(features, again, strict=True))
    exact = score_waveforms(model, test.waveforms)
    assert np.allclose(store.score(features), exact, atol=1e-4)
    assert feature_width(16000, model, 3) == store.compute(np.zeros((1, 16000), np.float32)).shape[-1]


def test_onnx_runtime_computes_the_shipped_prefix_as_pytorch_does(shipped_models: Path) -> None:
    from recsys.checkpoint import find_model
    from recsys.features import FeatureStore
    from recsys.onnx_prefix import onnx_blocks

    recommender = load_checkpoint(find_model("elizabeth"))
    model, depth = recommender.model, recommender.frozen_blocks
    catalogue = load_dataset("builtin").catalogue
    waveforms = [catalogue.load_audio(t) for t in catalogue.ids[:4]]
    waveforms[1] = waveforms[1][: len(waveforms[1]) // 3]  # another length: the time axis is dynamic
    by_onnx = FeatureStore(model, depth, runtime="onnx")
    by_torch = FeatureStore(model, depth, runtime="torch")
    onnx_maps, torch_maps = by_onnx.features(waveforms), by_torch.features(waveforms)
    for a, b in zip(onnx_maps, torch_maps, strict=True):
        assert a.shape == b.shape and a.dtype == np.float32
        assert np.abs(a - b).max() <= 1e-5 * max(1.0, float(np.abs(b).max()))
    whole = score_waveforms(model, waveforms)
    assert np.abs(by_onnx.score(onnx_maps) - whole).max() <= 1e-5  # the logits the page ranks by
    assert onnx_blocks(model, depth, by_onnx.key) is onnx_blocks(model, depth, by_onnx.key)  # made once
    # its threads sleep between runs, leaving the cores to PyTorch's work between them
    options = onnx_blocks(model, depth, by_onnx.key).session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    with pytest.raises(ValueError, match="runtime"):
        FeatureStore(model, depth, runtime="tensorrt")


def test_a_probe_head_scores_tracks_as_the_fitted_logistic_regression_does() -> None:
    from sklearn.linear_model import LogisticRegression

    from recsys.probe import pooled_embeddings, probe_output_layer

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = FCN(ModelArgs())
    features = [rng.normal(size=(128, 32, 30)).astype(np.float32) for _ in range(12)]
    labels = np.array([0, 1] * 6)
    for feature, label in zip(features, labels, strict=True):
        feature[:8] += 2.0 * label  # channels the played tracks share
    embeddings = pooled_embeddings(model, features, 3)
    assert embeddings.shape == (12, 128) and model.training  # left in the mode it was in
    probe_output_layer(model, embeddings, labels, c=1.0)
    standardised = (embeddings - embeddings.mean(0)) / embeddings.std(0)
    fit = LogisticRegression(C=1.0, class_weight="balanced", max_iter=5000).fit(standardised, labels)
    model.eval()
    with torch.no_grad():
        logits = [float(model.from_block(torch.from_numpy(f[None]), 3)[0]) for f in features]
    assert np.allclose(logits, fit.decision_function(standardised), atol=1e-4)


def test_the_probes_silent_negatives_put_silence_below_the_played_tracks() -> None:
    from sklearn.metrics import roc_auc_score

    from recsys.probe import probe_output_layer

    rng = np.random.default_rng(0)
    labels = np.array([0, 0, 0, 1] * 20)
    embeddings = rng.normal(size=(80, 128))
    embeddings[:, 0] += 2.0 * labels  # the taste the probe finds
    silence = np.zeros((4, 128))
    silence[:, 0] = 8.0  # beyond the played tracks on the taste's direction ...
    silence[:, 1] = -6.0  # ... and apart from every track on another

    def logits(with_silence: bool) -> tuple[np.ndarray, float]:
        model = FCN(ModelArgs())
        probe_output_layer(model, embeddings, labels, silent=silence if with_silence else None)
        weight, bias = (t.double().numpy() for t in model.dense_parameters())
        return embeddings @ weight[0] + bias[0], float(silence[0] @ weight[0] + bias[0])

    tracks, silent = logits(with_silence=False)
    assert silent > np.median(tracks[labels == 1])  # never heard silence: ranks it among the liked
    tracks, silent = logits(with_silence=True)
    assert silent < tracks[labels == 1].min()
    assert roc_auc_score(labels, tracks) > 0.85  # and still ranks the tracks by the taste


def test_fine_tuning_starts_from_the_probe_of_the_shared_embedding(recsys_catalogue, tmp_path) -> None:
    from sklearn.metrics import roc_auc_score

    from recsys.features import FeatureStore
    from recsys.probe import pooled_embeddings, probe_output_layer

    shared = load_checkpoint(pretrain_shared()["published"])
    run = train_user(tmp_path / "o", init="shared", n_epochs=1)
    assert run.config["head_init"] == "probe"
    history = json.loads((tmp_path / "o" / "training.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [0, 1] and run.result["epochs_run"] == 1

    model = FCN(ModelArgs())  # the probe, fitted here on its own
    model.load_backbone(shared.model)
    data = load_dataset("builtin")
    train, val = (load_split(data, TEST_USER, split, progress=False) for split in ("train", "val"))
    store = FeatureStore(model, 3, get_settings().cache_dir)
    probe_output_layer(model, pooled_embeddings(model, store.features(train.waveforms), 3), train.labels)
    val_logits = store.score(store.features(val.waveforms), model)
    assert history[0]["val_auc"] == pytest.approx(roc_auc_score(val.labels, val_logits))
    with pytest.raises(ConfigError, match="freeze_blocks"):
        train_user(tmp_path / "x", init="shared", freeze_blocks=0)


def test_zero_epochs_publish_the_probe_alone(recsys_catalogue, tmp_path) -> None:
    pretrain_shared()
    run = train_user(tmp_path / "o", init="shared", n_epochs=0)
    history = json.loads((tmp_path / "o" / "training.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [0] and run.result["best_epoch"] == 0
    with pytest.raises(ConfigError, match="the probe alone"):
        train_user(tmp_path / "x", init="scratch", n_epochs=0)
    with pytest.raises(ConfigError, match="the probe alone"):
        train_user(tmp_path / "y", init="shared", n_epochs=0, n_steps=10)


def test_computing_prefix_features_leaves_the_trainable_blocks_in_training_mode() -> None:
    from recsys.features import FeatureStore

    model = FCN(ModelArgs())
    model.train()
    FeatureStore(model, 3).compute(np.zeros((1, 16000), np.float32))
    assert not model.blocks[2].training and model.blocks[3].training and model.dropout.training


def test_platt_calibration_undoes_overconfidence_under_a_balanced_prior() -> None:
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, 4000)
    labels = (rng.random(4000) < 1 / (1 + np.exp(-true_logits))).astype(np.float32)
    model = FCN(ModelArgs())
    dense_before = model.dense.weight.detach().clone(), model.dense.bias.detach().clone()
    done = platt_calibration(
        model, 3 * true_logits - 1, labels, labels, "validation"
    )  # 3x overconfident, shifted
    assert done["logit_scale"] == pytest.approx(1 / 3, rel=0.1)
    assert done["logit_offset"] == pytest.approx(1 / 3, abs=0.15)
    weight, bias = model.dense_parameters()  # written into the output layer, exactly
    assert torch.allclose(weight, dense_before[0] * done["logit_scale"])
    assert torch.allclose(bias, dense_before[1] * done["logit_scale"] + done["logit_offset"])

    reversed_model = FCN(ModelArgs())  # validation logits that rank the labels backwards: no trust
    fallback = platt_calibration(reversed_model, -true_logits, labels, labels[:100], "validation")
    assert "fallback" in fallback and fallback["prior_logit_offset"] == pytest.approx(
        prior_offset(labels[:100])
    )
    with pytest.raises(ConfigError, match="calibration must be one of validation, crossfit, prior, none"):
        calibrate(model, "platt", labels, labels, true_logits)


def test_probe_c_auto_chooses_by_the_auc_of_logits_from_probes_that_never_saw_the_track() -> None:
    from sklearn.metrics import roc_auc_score

    from recsys.probe import PROBE_CS, fit_probe, probe_folds, probe_output_layer

    rng = np.random.default_rng(0)
    labels = np.array([0, 0, 1] * 30)
    embeddings = rng.normal(size=(90, 128))
    embeddings[:, 0] += 1.5 * labels  # one direction holds the taste, 127 are noise to overfit
    fitted = probe_output_layer(FCN(ModelArgs()), embeddings, labels, c="auto", seed=3)
    assert set(fitted["held_out_auc"]) == {str(c) for c in PROBE_CS}
    assert fitted["held_out_auc"][str(fitted["c"])] == max(fitted["held_out_auc"].values())
    assert fitted["c"] < max(PROBE_CS)  # so much noise wants more than the weakest regularisation
    logits = fitted["out_of_fold_logits"]
    assert roc_auc_score(labels, logits) == pytest.approx(fitted["held_out_auc"][str(fitted["c"])], abs=1e-4)
    folds = probe_folds(labels, seed=3)
    assert sorted(np.bincount(folds)) == [18] * 5 and all(labels[folds == f].sum() == 6 for f in range(5))
    held_out = folds == 2  # a probe without fold 2 scores fold 2's tracks as reported
    weight, bias = fit_probe(embeddings[~held_out], labels[~held_out], fitted["c"])
    assert np.allclose(logits[held_out], embeddings[held_out] @ weight + bias)
    in_sample = embeddings @ fit_probe(embeddings, labels, fitted["c"])[0]
    assert roc_auc_score(labels, in_sample) > roc_auc_score(labels, logits)  # what out-of-fold avoids

    few = np.array([1, 0, 0, 0, 0])  # one played track: no two folds
    assert probe_output_layer(FCN(ModelArgs()), embeddings[:5], few, c=0.1)["out_of_fold_logits"] is None
    with pytest.raises(DataError, match="probe_c='auto' needs at least 2 played"):
        probe_output_layer(FCN(ModelArgs()), embeddings[:5], few, c="auto")


def test_crossfit_calibration_fits_the_probes_out_of_fold_logits() -> None:
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, 2000)
    labels = (rng.random(2000) < 1 / (1 + np.exp(-true_logits))).astype(np.float32)
    model = FCN(ModelArgs())
    val_labels = np.array([0.0, 1.0])
    done = calibrate(model, "crossfit", labels, val_labels, np.array([5.0, -5.0]), labels, 2 * true_logits)
    assert done["logit_scale"] == pytest.approx(1 / 2, rel=0.1)  # not the backwards validation split
    assert done["fit_positives"] == labels.sum() and "out-of-fold" in done["rule"]
    fallback = calibrate(FCN(ModelArgs()), "crossfit", labels[:100], val_labels, np.zeros(2))
    assert fallback["prior_logit_offset"] == pytest.approx(prior_offset(labels[:100]))
    assert "no out-of-fold" in fallback["fallback"]


def test_the_probe_alone_can_fit_the_validation_split_and_calibrate_on_its_folds(
    recsys_catalogue, tmp_path
) -> None:
    pretrain_shared()
    run = train_user(
        tmp_path / "o",
        init="shared",
        n_epochs=0,
        probe_tracks="train+val",
        probe_c="auto",
        calibration="crossfit",
    )
    data = load_dataset("builtin")
    n_train, n_val = (len(data.user(TEST_USER)[split]) for split in ("train", "val"))
    calibration = load_checkpoint(tmp_path / "o" / "model.pt").calibration
    assert calibration["fit_positives"] + calibration["fit_negatives"] == n_train + n_val
    assert "out-of-fold" in calibration["rule"]
    for bad, match in (
        ({"n_epochs": 2, "probe_tracks": "train+val"}, "cannot choose among fine-tuning epochs"),
        ({"n_epochs": 2, "calibration": "crossfit"}, "needs the probe alone"),
        ({"n_epochs": 0, "probe_c": -1.0}, "probe_c must be a number > 0 or 'auto'"),
        ({"n_epochs": 0, "probe_tracks": "all"}, "probe_tracks must be one of train, train\\+val"),
    ):
        with pytest.raises(ConfigError, match=match):
            train_user(tmp_path / "x", init="shared", **bad)
    assert run.result["best_epoch"] == 0


def test_an_interrupted_pretraining_goes_on_from_its_last_validation_to_the_same_result(
    tmp_path, monkeypatch
) -> None:
    rng = np.random.default_rng(0)
    audio = [0.1 * rng.standard_normal(16_000).astype(np.float32) for _ in range(4)]
    values = np.array([[1.0, 0.3], [0.0, -0.2], [1.0, 1.1], [0.0, -1.0]], np.float32)
    targets = [Target("genre:a", "label"), Target("tempo", "value")]
    config = PretrainConfig(n_steps=4, batch_size=2, input_length=8_000, val_every=2, val_crops=2)

    def run(state: Path):
        return pretrain(audio[:3], values[:3], audio[3:], values[3:], targets, config, torch.device("cpu"),
                        progress=False, state_path=state, data_key="data")  # fmt: skip

    whole = run(tmp_path / "whole.pt")
    real_crop_outputs, calls = pretraining.crop_outputs, []

    def stop_at_the_second_validation(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_crop_outputs(*args, **kwargs)

    monkeypatch.setattr(pretraining, "crop_outputs", stop_at_the_second_validation)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "cut.pt")
    monkeypatch.setattr(pretraining, "crop_outputs", real_crop_outputs)
    resumed = run(tmp_path / "cut.pt")
    assert resumed.history == whole.history and resumed.best_step == whole.best_step
    for name, value in whole.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name

    other = replace(config, lr=1e-2)  # a state is only resumed by the run that saved it
    with pytest.raises(ConfigError, match="other settings or data"):
        pretrain(audio[:3], values[:3], audio[3:], values[3:], targets, other, torch.device("cpu"),
                 progress=False, state_path=tmp_path / "cut.pt", data_key="data")  # fmt: skip
