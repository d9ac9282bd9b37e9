"""Genre-typical per-stem effects (pedalboard), with parameters drawn per song."""

from __future__ import annotations

import numpy as np
import pedalboard as pb

from lemons.catalogue.base import STEMS


def _reverb(rng: np.random.Generator, size: tuple[float, float], wet: tuple[float, float]) -> pb.Reverb:
    return pb.Reverb(room_size=float(rng.uniform(*size)), wet_level=float(rng.uniform(*wet)), dry_level=0.8)


def effect_chains(genre: str, rng: np.random.Generator) -> dict[str, pb.Pedalboard]:
    """Pedalboards by stem for one song of ``genre`` (stems without an entry stay dry)."""
    u = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731
    chains: dict[str, list] = {}
    if genre == "rock":
        chains = {
            "other": [pb.Distortion(drive_db=u(8, 18)), pb.Gain(-6)],
            "vocals": [_reverb(rng, (0.2, 0.4), (0.1, 0.2))],
        }
    elif genre == "metal":
        chains = {
            "other": [
                pb.HighpassFilter(90),
                pb.Distortion(drive_db=u(20, 30)),
                pb.LowpassFilter(u(5000, 7000)),
                pb.Gain(-12),
            ],
            "bass": [pb.Distortion(drive_db=u(5, 10)), pb.Gain(-3)],
            "vocals": [pb.Distortion(drive_db=u(0, 6)), _reverb(rng, (0.3, 0.5), (0.1, 0.2))],
        }
    elif genre == "punk":
        chains = {
            "other": [pb.Distortion(drive_db=u(15, 25)), pb.Gain(-9)],
            "vocals": [pb.Distortion(drive_db=u(2, 10)), pb.Gain(-2)],
        }
    elif genre == "reggae":
        delay = u(0.3, 0.45)
        chains = {
            "other": [pb.Delay(delay, u(0.25, 0.4), 0.3)],
            "vocals": [pb.Delay(delay, 0.3, 0.25), _reverb(rng, (0.4, 0.6), (0.15, 0.25))],
            "drums": [pb.Delay(delay, 0.2, u(0.0, 0.25))],
        }
    elif genre == "electronic":
        chains = {
            "other": [pb.Chorus(), _reverb(rng, (0.7, 0.9), (0.3, 0.45))],
            "piano": [_reverb(rng, (0.8, 0.95), (0.4, 0.55))],
            "vocals": [pb.Delay(u(0.25, 0.4), 0.4, 0.3), _reverb(rng, (0.7, 0.9), (0.3, 0.4))],
            "drums": [pb.Compressor(-20, 4)],
        }
    elif genre == "blues":
        chains = {
            "vocals": [_reverb(rng, (0.3, 0.5), (0.15, 0.25))],
            "other": [pb.Distortion(drive_db=u(2, 8)), pb.Gain(-3)],
        }
    elif genre == "progressive rock":
        chains = {
            "other": [pb.Phaser(rate_hz=u(0.2, 1.0)), _reverb(rng, (0.5, 0.8), (0.2, 0.3))],
            "vocals": [_reverb(rng, (0.5, 0.7), (0.2, 0.3))],
            "piano": [pb.Chorus(depth=u(0.1, 0.3))],
        }
    elif genre == "hip-hop":
        chains = {
            "piano": [pb.Bitcrush(bit_depth=u(6, 10)), pb.LowpassFilter(u(2500, 4000))],
            "drums": [pb.Compressor(-18, 4), pb.Gain(4)],
            "bass": [pb.LowpassFilter(u(300, 600)), pb.Gain(3)],
            "vocals": [pb.Compressor(-20, 3)],
        }
    elif genre == "pop":
        chains = {stem: [pb.Compressor(-20, 3), _reverb(rng, (0.3, 0.5), (0.1, 0.2))] for stem in STEMS}
    elif genre == "jazz":
        chains = {stem: [_reverb(rng, (0.3, 0.4), (0.1, 0.2))] for stem in STEMS}
    elif genre == "classical":
        room = (u(0.8, 0.95),) * 2
        chains = {stem: [_reverb(rng, room, (0.3, 0.4))] for stem in STEMS}
    return {stem: pb.Pedalboard(effects) for stem, effects in chains.items()}


def apply_effects(
    stems: dict[str, np.ndarray], chains: dict[str, pb.Pedalboard], sr: int
) -> dict[str, np.ndarray]:
    """Apply each stem's chain (``[samples]`` float32 at ``sr``; tails cut to the stem's length)."""
    out = {}
    for stem, audio in stems.items():
        chain = chains.get(stem)
        if chain is None or not np.any(audio):
            out[stem] = audio
        else:
            out[stem] = chain(audio[None, :], sr)[0, : audio.shape[0]].astype(np.float32)
    return out
