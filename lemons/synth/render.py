"""Render MIDI parts to audio with FluidSynth and the FluidR3_GM SoundFont, one stem at a time.

Stems are rendered separately (a one-pass render of the whole song differs from the sum of its
parts because of voice allocation), with FluidSynth's own reverb and chorus switched off so every
render starts from the same state: effects are applied afterwards, per stem, with pedalboard.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import numpy as np
import pretty_midi

from lemons.errors import SetupError

SOUNDFONT_CANDIDATES = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/local/share/sounds/sf2/FluidR3_GM.sf2",
)


def find_soundfont() -> Path:
    """The FluidR3_GM SoundFont (``$LEMONS_SOUNDFONT`` first), or :class:`SetupError` saying how to get it."""
    override = os.environ.get("LEMONS_SOUNDFONT")
    for candidate in ([override] if override else []) + list(SOUNDFONT_CANDIDATES):
        if Path(candidate).is_file():
            return Path(candidate)
    raise SetupError(
        "the FluidR3_GM SoundFont is missing; install it with: sudo apt-get install fluid-soundfont-gm "
        "(or point LEMONS_SOUNDFONT at a FluidR3_GM.sf2)"
    )


class StemRenderer:
    """Renders a song's stems (mono float32 at ``sample_rate``) with a fresh FluidSynth per song.

    FluidSynth keeps state between renders (block phase, voice history) that changes the output by
    up to about 1e-4; a new synthesizer per song makes every song independent of what was rendered
    before it, so builds are deterministic whatever the order or number of worker processes.
    """

    def __init__(self, sample_rate: int, soundfont: Path | None = None, gain: float = 0.4) -> None:
        try:
            import fluidsynth
        except ImportError as exc:  # pyfluidsynth loads libfluidsynth at import time
            raise SetupError(
                "FluidSynth is missing; install it with: sudo apt-get install fluidsynth libfluidsynth3"
            ) from exc
        self._fluidsynth = fluidsynth
        self.sample_rate = sample_rate
        self.soundfont = Path(soundfont) if soundfont else find_soundfont()
        self.gain = gain
        # Float output: the 16-bit path adds dither from a table whose position carries over.
        self._write_float = fluidsynth._fl.fluid_synth_write_float
        self._write_float.argtypes = [
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_int,
        ]

    def _new_synth(self):
        synth = self._fluidsynth.Synth(
            gain=self.gain,
            samplerate=float(self.sample_rate),
            **{"synth.polyphony": 1024, "synth.reverb.active": 0, "synth.chorus.active": 0},
        )
        soundfont_id = synth.sfload(str(self.soundfont))
        if soundfont_id < 0:
            synth.delete()
            raise SetupError(f"FluidSynth could not load the SoundFont {self.soundfont}")
        return synth, soundfont_id

    def _read(self, synth, n: int) -> np.ndarray:
        """Next ``n`` samples as mono float32 (left and right averaged)."""
        stereo = np.zeros((n, 2), dtype=np.float32)
        pointer = stereo.ctypes.data_as(ctypes.c_void_p)
        self._write_float(synth.synth, n, pointer, 0, 2, pointer, 1, 2)
        return stereo.mean(axis=1)

    def render_stems(
        self, groups: dict[str, list[pretty_midi.Instrument]], n_samples: int
    ) -> dict[str, np.ndarray]:
        """Render each group of parts on its own: ``{stem: [n_samples] float32}`` (zeros for no parts)."""
        synth, soundfont_id = self._new_synth()
        try:
            return {
                stem: self._render(synth, soundfont_id, parts, n_samples) for stem, parts in groups.items()
            }
        finally:
            synth.delete()

    def _render(
        self, synth, soundfont_id: int, parts: list[pretty_midi.Instrument], n_samples: int
    ) -> np.ndarray:
        out = np.zeros(n_samples, dtype=np.float32)
        if not parts:
            return out
        sr = self.sample_rate
        synth.system_reset()
        events = []
        free_channels = [c for c in range(16) if c != 9]
        for part in parts:
            channel = 9 if part.is_drum else free_channels.pop(0)
            synth.program_select(channel, soundfont_id, 128 if part.is_drum else 0, part.program)
            events += [(c.time, 0, channel, "cc", c.number, c.value) for c in part.control_changes]
            events += [(n.end, 1, channel, "off", n.pitch, 0) for n in part.notes]
            events += [(n.start, 2, channel, "on", n.pitch, n.velocity) for n in part.notes]
        events.sort(key=lambda e: (e[0], e[1], e[2], e[4]))
        cursor = 0
        for time, _, channel, kind, a, b in events:
            sample = min(int(round(time * sr)), n_samples)
            if sample > cursor:
                out[cursor:sample] = self._read(synth, sample - cursor)
                cursor = sample
            if sample >= n_samples:
                break
            if kind == "on":
                synth.noteon(channel, a, b)
            elif kind == "off":
                synth.noteoff(channel, a)
            else:
                synth.cc(channel, a, b)
        if cursor < n_samples:
            out[cursor:] = self._read(synth, n_samples - cursor)
        for channel in range(16):  # silence before the next stem
            synth.all_sounds_off(channel)
        self._read(synth, sr // 2)
        return out
