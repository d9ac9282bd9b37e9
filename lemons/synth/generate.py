"""One complete song with true stems: compose (MMA) → render per stem (FluidSynth) → effects → mix."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lemons.interactions import stable_seed
from lemons.synth.effects import apply_effects, effect_chains
from lemons.synth.mixing import draw_balance, mix_stems, rms_dbfs, stem_shares
from lemons.synth.render import StemRenderer
from lemons.synth.song import SongPlan, compose, parts_by_stem
from lemons.synth.styles import Genre


@dataclass
class Song:
    """A generated song: 16-bit stems and their exact integer sum, at ``sample_rate`` Hz mono."""

    plan: SongPlan
    stems: dict[str, np.ndarray]  # {stem: int16 [samples]}
    mix: np.ndarray  # int16 [samples] == sum of stems
    sample_rate: int
    featured: str
    background: str

    @property
    def loudness(self) -> float:
        """RMS of the mix, dBFS."""
        return rms_dbfs(self.mix)

    @property
    def shares(self) -> dict[str, float]:
        """Each stem's share of the energy of the stems."""
        return stem_shares(self.stems)


def generate_song(genre: Genre, seed: int, duration: float, renderer: StemRenderer) -> Song:
    """Generate a ``duration``-second song of ``genre`` at ``renderer.sample_rate``; same seed, same song."""
    plan, midi = compose(genre, seed, duration)
    rng = np.random.default_rng(stable_seed("mix", seed))
    n_samples = int(round(duration * renderer.sample_rate))
    raw = renderer.render_stems(parts_by_stem(midi), n_samples)
    raw = apply_effects(raw, effect_chains(genre.name, rng), renderer.sample_rate)
    gains, featured, background = draw_balance(genre.level_db, rng)
    loudness = float(rng.uniform(*genre.loudness_db))
    stems, mix = mix_stems(raw, gains, loudness)
    return Song(plan, stems, mix, renderer.sample_rate, featured, background)
