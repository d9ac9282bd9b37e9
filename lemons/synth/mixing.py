"""Stem loudness normalisation, per-song mix balance, mastering level and exact 16-bit mixing.

Raw General MIDI parts differ by 10-25 dB in level, so each stem is first brought to a common
*active* RMS (measured only where the stem plays), then set to the genre's balance plus a per-song
offset, with one stem sometimes featured (+6 dB) or kept in the background (-14 dB). The mix is
scaled to a loudness drawn from the genre's range; a limiter whose gain is computed on the mix
and applied to every stem alike keeps peaks below full scale (loud genres stay loud) while the
stems still add up to the mix. Stems are quantised to 16-bit integers and the mix is their
integer sum, so mix == sum of stems holds exactly on disk.
"""

from __future__ import annotations

import numpy as np

from lemons.catalogue.base import STEMS

REFERENCE_DB = -20.0  # active RMS of a stem at 0 dB balance, dBFS
FRAME = 1024
PEAK_LIMIT = 0.95
INT16_MAX = 32767


def db(value: float) -> float:
    """Decibels of an amplitude ratio (floored at -240 dB)."""
    return float(20.0 * np.log10(max(value, 1e-12)))


def active_rms(audio: np.ndarray, floor_db: float = -40.0) -> float:
    """RMS over the frames within ``floor_db`` of the loudest frame (0.0 for silence)."""
    n = (audio.shape[0] // FRAME) * FRAME
    if n == 0 or not np.any(audio):
        return 0.0
    energy = np.mean(audio[:n].reshape(-1, FRAME).astype(np.float64) ** 2, axis=1)
    active = energy[energy >= energy.max() * 10 ** (floor_db / 10)]
    return float(np.sqrt(active.mean()))


def draw_balance(level_db: dict[str, float], rng: np.random.Generator) -> tuple[dict[str, float], str, str]:
    """Per-stem gains in dB for one song: genre balance + offset, one featured and one background stem.

    Returns ``(gains_db, featured_stem, background_stem)`` (names may be ``""``).
    """
    gains = {stem: float(level_db.get(stem, 0.0) + rng.uniform(-3.0, 3.0)) for stem in STEMS}
    featured = background = ""
    if rng.random() < 0.35:
        featured = str(rng.choice(STEMS))
        gains[featured] += 6.0
    if rng.random() < 0.25:
        background = str(rng.choice([s for s in STEMS if s != featured]))
        gains[background] -= 14.0
    return gains, featured, background


def mix_stems(
    stems: dict[str, np.ndarray], gains_db: dict[str, float], loudness_db: float
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Balance, master and quantise. Returns ``({stem: int16 [samples]}, int16 mix [samples])``.

    ``loudness_db`` is the target RMS of the mix in dBFS; it is lowered when needed to keep the
    mix peak below :data:`PEAK_LIMIT`.
    """
    balanced = {}
    for stem in STEMS:
        audio = stems[stem].astype(np.float64)
        level = active_rms(audio)
        balanced[stem] = (
            audio * (10 ** ((REFERENCE_DB + gains_db[stem]) / 20) / level) if level > 0 else audio * 0
        )
    mix = np.sum([balanced[s] for s in STEMS], axis=0)
    rms = float(np.sqrt(np.mean(mix**2)))
    if rms == 0:
        raise ValueError("all stems are silent")
    gain = 10 ** (loudness_db / 20) / rms
    envelope = linked_limiter_gain(mix * gain, PEAK_LIMIT)
    balanced = {s: balanced[s] * envelope for s in STEMS}
    while True:
        ints = {s: np.round(balanced[s] * gain * INT16_MAX).astype(np.int32) for s in STEMS}
        total = np.sum([ints[s] for s in STEMS], axis=0)
        if np.max(np.abs(total)) <= INT16_MAX and all(np.max(np.abs(v)) <= INT16_MAX for v in ints.values()):
            break
        gain *= 0.98
    return {s: v.astype(np.int16) for s, v in ints.items()}, total.astype(np.int16)


def linked_limiter_gain(mix: np.ndarray, threshold: float, window: int = 256) -> np.ndarray:
    """Per-sample gain ``[samples]`` (≤ 1) that keeps ``|mix · gain| ≤ threshold``.

    The gain needed at each peak is spread over ``window`` samples on each side (look-ahead and
    release) so the reduction is smooth; applying it to every stem keeps them summing to the mix.
    """
    from scipy.ndimage import maximum_filter1d, uniform_filter1d

    needed = np.minimum(1.0, threshold / np.maximum(np.abs(mix), 1e-12))
    held = -maximum_filter1d(-needed, size=2 * window + 1)  # running minimum
    return np.minimum(uniform_filter1d(held, size=window), needed)


def stem_shares(stems: dict[str, np.ndarray]) -> dict[str, float]:
    """Each stem's share of the summed stem energy (0-1, sums to 1)."""
    energy = {s: float(np.sum(stems[s].astype(np.float64) ** 2)) for s in STEMS}
    total = sum(energy.values()) or 1.0
    return {s: energy[s] / total for s in STEMS}


def rms_dbfs(audio_int16: np.ndarray) -> float:
    """RMS level of 16-bit audio in dBFS."""
    return db(float(np.sqrt(np.mean((audio_int16.astype(np.float64) / 32768.0) ** 2))))
