"""Pieces of the demo page that need no Streamlit: audio bytes, the waveform player, colours, images.

The waveform player is a small self-contained HTML component (no external scripts, fonts or images):
an ``<audio>`` element with the WAV inline, a canvas with the waveform's envelope, a cursor that
follows the playback, and a click on the waveform seeks there.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import string

import numpy as np
import pandas as pd
import soundfile as sf
from pandas.io.formats.style import Styler

from explanations.page.figures import envelope

#: Envelope points per second drawn by the player.
PLAYER_RATE = 40
#: ASCII punctuation, each of which a backslash makes literal in Markdown.
MARKDOWN_PUNCTUATION = re.compile(f"([{re.escape(string.punctuation)}])")
#: The bars of a table's 0–1 column.
BAR_COLOUR = "#f9d65c"
#: The page's own style: progress bars step to each new value instead of sliding there. The slide
#: (half a second per update) kept a browser on the same machine drawing for the whole computation,
#: which took CPU from it: a source explanation took 0.15–0.2 s longer on a 2-core machine.
PAGE_STYLE = "<style>[data-testid='stProgressBarTrack'] * { transition: none !important; }</style>"


def wav_bytes(audio: np.ndarray, sr: int) -> bytes:
    """16-bit WAV of ``audio`` ``[samples]`` at ``sr`` Hz, as loud as it is (no peak normalisation)."""
    buffer = io.BytesIO()
    sf.write(
        buffer, np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0), sr, subtype="PCM_16", format="WAV"
    )
    return buffer.getvalue()


def player_html(
    audio: np.ndarray,
    sr: int,
    label: str,
    colour: str = "#1f77b4",
    spans: list[tuple[float, float]] | None = None,
    height: int = 70,
) -> str:
    """The waveform player: play/pause, a cursor following playback, click to seek.

    ``spans`` (seconds) are drawn highlighted (the chosen components of an explanation).
    """
    _, peaks = envelope(np.asarray(audio, dtype=np.float32), sr, PLAYER_RATE)
    scale = float(peaks.max()) if peaks.size and peaks.max() > 0 else 1.0
    data = {
        "peaks": [round(float(p) / scale, 3) for p in peaks],
        "duration": len(audio) / sr,
        "spans": spans or [],
        "colour": colour,
    }
    source = base64.b64encode(wav_bytes(audio, sr)).decode()
    return PLAYER_TEMPLATE.format(
        label=html.escape(label), source=source, data=json.dumps(data), height=height
    )


PLAYER_TEMPLATE = """<style>
.player {{ font-family: sans-serif; font-size: 13px; }}
.player .row {{ display: flex; align-items: center; gap: 8px; }}
.player button {{ width: 34px; height: 34px; border-radius: 50%; border: 1px solid #888;
  background: #fff; cursor: pointer; }}
.player .time {{ margin-left: auto; color: #555; }}
.player canvas {{ width: 100%; height: {height}px; cursor: pointer; display: block; margin-top: 4px; }}
</style>
<div class="player">
<div class="row"><button class="play" aria-label="play {label}">&#9654;</button>
<span class="label">{label}</span><span class="time">0.0 s</span></div>
<canvas class="wave"></canvas>
<audio class="audio" preload="auto" src="data:audio/wav;base64,{source}"></audio>
</div>
<script>
(function() {{
  const data = {data};
  const root = document.currentScript.previousElementSibling;
  const audio = root.querySelector("audio"), canvas = root.querySelector("canvas");
  const button = root.querySelector("button.play"), clock = root.querySelector(".time");
  function draw() {{
    const w = canvas.clientWidth, h = canvas.clientHeight, ratio = window.devicePixelRatio || 1;
    canvas.width = w * ratio; canvas.height = h * ratio;
    const g = canvas.getContext("2d"); g.scale(ratio, ratio); g.clearRect(0, 0, w, h);
    g.fillStyle = "rgba(255,200,0,0.25)";
    for (const [a, b] of data.spans) g.fillRect(a / data.duration * w, 0, (b - a) / data.duration * w, h);
    g.fillStyle = data.colour;
    const n = data.peaks.length;
    for (let i = 0; i < n; i++) {{
      const x = i / n * w, p = data.peaks[i] * (h / 2 - 2);
      g.fillRect(x, h / 2 - p, Math.max(1, w / n - 0.5), 2 * p + 1);
    }}
    const x = audio.currentTime / data.duration * w;
    g.fillStyle = "#d62728"; g.fillRect(x - 1, 0, 2, h);
    clock.textContent = audio.currentTime.toFixed(1) + " / " + data.duration.toFixed(1) + " s";
  }}
  button.addEventListener("click", () => audio.paused ? audio.play() : audio.pause());
  audio.addEventListener("play", () => {{ button.innerHTML = "&#10074;&#10074;"; tick(); }});
  audio.addEventListener("pause", () => {{ button.innerHTML = "&#9654;"; draw(); }});
  audio.addEventListener("timeupdate", draw);
  canvas.addEventListener("click", (event) => {{
    const box = canvas.getBoundingClientRect();
    audio.currentTime = (event.clientX - box.left) / box.width * data.duration; draw();
  }});
  function tick() {{ draw(); if (!audio.paused) requestAnimationFrame(tick); }}
  window.addEventListener("resize", draw); draw();
}})();
</script>"""


def scale_colour(value: float, low: float = 0.0, high: float = 1.0) -> str:
    """Red → amber → green for ``value`` between ``low`` and ``high`` (hex colour)."""
    t = float(np.clip((value - low) / (high - low), 0.0, 1.0))
    red = np.array([214, 39, 40])
    amber = np.array([240, 170, 30])
    green = np.array([44, 160, 44])
    rgb = red + (amber - red) * t * 2 if t < 0.5 else amber + (green - amber) * (t - 0.5) * 2
    return "#" + "".join(f"{int(round(c)):02x}" for c in rgb)


def badge(text: str, colour: str) -> str:
    """An inline coloured label (HTML)."""
    return (
        f'<span style="background:{colour};color:white;padding:2px 10px;border-radius:10px;'
        f'font-weight:600">{html.escape(text)}</span>'
    )


def fidelity_meaning(fidelity: float) -> str:
    """One line on what a fidelity (the surrogate's weighted R²) means for trusting the explanation."""
    if fidelity >= 0.8:
        return "the linear explanation reproduces the recommender's behaviour around this track closely"
    if fidelity >= 0.5:
        return "the explanation captures the main effects, but the recommender does more than it shows"
    return "the recommender's behaviour is not well described by these components: read with care"


def literal_markdown(text: object) -> str:
    """``text`` escaped so that Markdown shows it as written (a title like ``*69`` stays ``*69``)."""
    return MARKDOWN_PUNCTUATION.sub(r"\\\1", str(text))


def static_table(frame: pd.DataFrame, bar: str | None = None) -> Styler:
    """``frame`` styled for ``st.table``, whose cells are Markdown: text shown as written, floats to
    three decimals, and the 0–1 column ``bar`` (if any) drawn as bars."""
    text = [c for c in frame.columns if frame[c].dtype == object]
    style = frame.style.format(literal_markdown, subset=text).format(
        precision=3, subset=frame.columns.difference(text)
    )
    return style.bar(subset=bar, vmin=0, vmax=1, color=BAR_COLOUR) if bar else style
