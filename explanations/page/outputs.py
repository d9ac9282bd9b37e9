"""An explanation's files: the Top Highlight and Top-k as WAV, the JSON report and the figure.

``lemons explain`` writes them into a folder; the demo page offers the same files as one ZIP.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from tempfile import TemporaryDirectory

from explanations.audiolime.listen import highlight, report
from explanations.audiolime.pipeline import TrackExplanation
from explanations.page.figures import explanation_figure
from lemons.audio import write_audio
from lemons.io import write_json


def write_outputs(
    result: TrackExplanation, out_dir: Path | str, k: int = 3, context: dict | None = None
) -> dict:
    """Write ``top_highlight.wav``, ``top_<k>.wav``, ``explanation.json`` and ``explanation.png``.

    Returns the report (as written) with the file paths under ``files``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    for name, count in (("top_highlight", 1), (f"top_{k}", k)):
        chosen = highlight(result.explanation, result.factorization, count)
        if not chosen.empty:
            write_audio(out_dir / f"{name}.wav", chosen.audio, chosen.sr)
            files[name] = str(out_dir / f"{name}.wav")
    files["figure"] = str(explanation_figure(result, k, out_dir / "explanation.png"))
    files["report"] = str(out_dir / "explanation.json")
    data = {**report(result, k, context), "files": files}
    write_json(out_dir / "explanation.json", data)
    return data


def outputs_zip(result: TrackExplanation, k: int, context: dict) -> bytes:
    """The explanation's WAVs, JSON report and figure (``lemons explain``'s files) as one ZIP."""
    buffer = io.BytesIO()
    with TemporaryDirectory(prefix="lemons-explanation-") as tmp:
        write_outputs(result, tmp, k, context)
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(Path(tmp).iterdir()):
                archive.write(path, path.name)
    return buffer.getvalue()
