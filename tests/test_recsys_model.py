"""The FCN and its mel front end: architecture, shapes, regression fixture, checkpoints."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import librosa
import numpy as np
import pytest
import torch

from lemons.errors import AudioError, ModelError
from recsys.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from recsys.model import FCN, ModelArgs, count_parameters

FIXTURES = Path(__file__).parent / "fixtures"


def _fixture_signal() -> np.ndarray:
    spec = importlib.util.spec_from_file_location("make_mel", FIXTURES / "make_mel_front_end.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.test_signal()


def test_parameter_count_and_layers_follow_the_spec() -> None:
    model = FCN()
    assert count_parameters(model) == 444_611
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in convs] == [
        (1, 64, (3, 3), (1, 1)),
        (64, 128, (3, 3), (1, 1)),
        (128, 128, (3, 3), (1, 1)),
        (128, 128, (3, 3), (1, 1)),
        (128, 64, (3, 3), (1, 1)),
    ]
    assert model.dense.in_features == 128 and model.dense.out_features == 1
    assert model.dropout.p == 0.5
    mel = model.front_end.mel
    assert (mel.n_fft, mel.hop_length, mel.n_mels, mel.f_min, mel.f_max) == (512, 256, 256, 0.0, 8000.0)
    assert model.front_end.to_db.top_db is None
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d | torch.nn.Linear):
            assert torch.count_nonzero(module.bias) == 0
        if isinstance(module, torch.nn.BatchNorm2d):
            assert torch.all(module.weight == 1) and torch.all(module.bias == 0)


@pytest.mark.parametrize(("seconds", "frames", "pooled_frames"), [(1, 63, 1), (30, 1876, 58)])
def test_layer_shapes_for_1_s_and_30_s(seconds: int, frames: int, pooled_frames: int) -> None:
    model = FCN().eval()
    waveform = torch.randn(2, seconds * 16_000)
    with torch.no_grad():
        spectrogram = model.spectrogram(waveform)
        shapes = [tuple(spectrogram.shape)]
        features = spectrogram
        for block in model.blocks:
            features = block(features)
            shapes.append(tuple(features.shape))
        logits = model(waveform)
    assert shapes[0] == (2, 1, 256, frames)
    assert shapes[-1] == (2, 64, 8, pooled_frames)
    assert [s[2] for s in shapes] == [256, 128, 64, 32, 16, 8]
    assert logits.shape == (2,)


@pytest.mark.filterwarnings("ignore:Empty filters detected")
def test_front_end_matches_the_stored_fixture_and_librosa() -> None:
    stored = np.load(FIXTURES / "mel_front_end.npz")
    signal = _fixture_signal()
    np.testing.assert_array_equal(signal, stored["signal"])  # the fixture input is reproducible
    with torch.no_grad():
        db = FCN().front_end(torch.from_numpy(signal)[None])[0].numpy()
    assert db.shape == (256, 63)
    np.testing.assert_allclose(db, stored["expected"], atol=1e-3, rtol=0)
    # an independent implementation of the same definition (HTK mel, no filter norm, power, 10·log10)
    power = librosa.feature.melspectrogram(
        y=signal,
        sr=16_000,
        n_fft=512,
        hop_length=256,
        n_mels=256,
        fmin=0,
        fmax=8000,
        htk=True,
        norm=None,
        pad_mode="reflect",
    )
    reference = 10 * np.log10(np.maximum(power, 1e-10))
    audible = reference > -60  # near the −100 dB floor float32 rounding dominates
    assert audible.mean() > 0.85
    np.testing.assert_allclose(db[audible], reference[audible], atol=0.02, rtol=0)
    # the tolerance discriminates: the README's hop of 512 would not pass
    with torch.no_grad():
        other = FCN(ModelArgs(hop_length=512)).front_end(torch.from_numpy(signal)[None])[0].numpy()
    assert other.shape != db.shape or not np.allclose(other, db, atol=1e-3)


def test_the_explanation_engines_interface_recomposes_forward() -> None:
    torch.manual_seed(0)
    model = FCN().eval()
    waveform = torch.randn(2, 3 * 16_000) * 0.1
    with torch.inference_mode():
        spectrum = model.complex_stft(waveform)
        assert spectrum.shape == (2, 257, 3 * 16_000 // 256 + 1) and spectrum.is_complex()
        spectrogram = model.input_from_power(spectrum.abs().pow(2))
        torch.testing.assert_close(spectrogram, model.spectrogram(waveform), atol=1e-4, rtol=1e-5)
        features = model.feature_map(spectrogram)
        assert features.shape == (2, 64, 256 // 32, (3 * 16_000 // 256 + 1) // 32)
        weight, bias = model.dense_parameters()
        assert weight.shape == (1, 128) and bias.shape == (1,)
        logits = model.pool(features) @ weight.T + bias
        torch.testing.assert_close(logits[:, 0], model(waveform), atol=1e-5, rtol=1e-5)


def test_too_short_input_is_refused_with_the_minimum() -> None:
    model = FCN()
    with pytest.raises(AudioError, match=r"at least 7936 samples"):
        model(torch.zeros(1, 4000))
    assert model(torch.randn(1, 7936)).shape == (1,)


def _save(tmp_path: Path, model: FCN, name: str = "model.pt") -> Path:
    return save_checkpoint(
        tmp_path / name,
        model,
        user="nina",
        dataset="builtin",
        data_fingerprint="abc",
        config={"lr": 1e-3, "path": tmp_path},
        metrics={"val_auc": 0.9},
        selection="rule",
        epoch=3,
        revision="deadbeef",
    )


def test_checkpoint_round_trip_is_self_describing(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = FCN().eval()
    path = _save(tmp_path, model)
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "lemons-recommender" and raw["model_args"]["n_mels"] == 256
    loaded = load_checkpoint(path)
    assert (loaded.user, loaded.dataset, loaded.data_fingerprint, loaded.epoch) == (
        "nina",
        "builtin",
        "abc",
        3,
    )
    assert loaded.metrics == {"val_auc": 0.9} and loaded.git_revision == "deadbeef"
    assert loaded.config["path"] == str(tmp_path)
    assert not loaded.model.training
    x = torch.randn(2, 16_000)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), model(x), atol=1e-5, rtol=1e-5)
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # no temporary file left


def _rewrite(path: Path, **changes) -> None:
    raw = torch.load(path, weights_only=True)
    for key, value in changes.items():
        if key.startswith("args_"):
            raw["model_args"][key[5:]] = value
        else:
            raw[key] = value
    torch.save(raw, path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"args_architecture": "crnn"}, r"'crnn' model"),
        ({"args_front_end": "librosa-cqt"}, r"'librosa-cqt' front end"),
        ({"args_sample_rate": 22050}, r"expects 22050 Hz"),
        ({"args_n_mels": 128}, r"weights do not fit"),
        ({"format": "something-else"}, r"not a LEMONS recommender checkpoint"),
        ({"version": 99}, r"version 99 checkpoint"),
    ],
)
def test_checkpoints_of_another_kind_are_refused(tmp_path: Path, change: dict, message: str) -> None:
    path = _save(tmp_path, FCN())
    _rewrite(path, **change)
    with pytest.raises(ModelError, match=message):
        load_checkpoint(path)


def test_missing_corrupt_and_unsafe_checkpoints_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="train one with"):
        load_checkpoint(tmp_path / "absent.pt")
    path = _save(tmp_path, FCN())
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(ModelError, match="not a readable"):
        read_checkpoint(truncated)
    unsafe = tmp_path / "unsafe.pt"
    torch.save({"format": "lemons-recommender", "payload": Path("/etc")}, unsafe)  # needs full unpickling
    with pytest.raises(ModelError, match="not a readable"):
        read_checkpoint(unsafe)


def test_a_failed_save_leaves_the_previous_checkpoint(tmp_path: Path, monkeypatch) -> None:
    path = _save(tmp_path, FCN())
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", fail)
    with pytest.raises(OSError, match="disk full"):
        _save(tmp_path, FCN())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_git_revision_marks_changed_code_but_not_published_models(tmp_path) -> None:
    import subprocess

    from recsys.checkpoint import git_revision

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "nina.pt").write_bytes(b"old")
    (tmp_path / "train.py").write_text("lr = 1e-3\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "start")
    head = git_revision(tmp_path)
    assert len(head) == 40
    (tmp_path / "models" / "nina.pt").write_bytes(b"published")
    assert git_revision(tmp_path) == head
    (tmp_path / "train.py").write_text("lr = 1e-2\n")
    assert git_revision(tmp_path) == head + "+dirty"
