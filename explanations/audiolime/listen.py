"""Listenable explanations: the Top Highlight and Top-k as audio, per-source rows, and the report.

The chosen components are summed per source (one waveform row per source); the rows share one time
axis, trimmed of the silence before the first and after the last chosen sound. The audio stays as
loud as the recommender heard it (no peak normalisation); :mod:`explanations.page.outputs` writes
it as 16-bit WAV at 16 kHz.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explanations.audiolime.explainer import Explanation
from explanations.audiolime.factorization import Factorization
from explanations.audiolime.pipeline import TrackExplanation
from explanations.audiolime.questions import lowers, raises
from lemons.audio import SILENCE_PEAK


@dataclass(frozen=True)
class Highlight:
    """Chosen components as sound: ``rows`` ``{source: [samples]}`` and their sum ``audio``, at ``sr`` Hz.

    ``start`` is the time (s) in the track where the trimmed audio begins.
    """

    indices: list[int]
    names: list[str]
    descriptions: list[str]
    rows: dict[str, np.ndarray]
    audio: np.ndarray
    start: float
    sr: int

    @property
    def empty(self) -> bool:
        """Whether no component was chosen (no weight of the sign asked for)."""
        return not self.indices


def highlight(
    explanation: Explanation, factorization: Factorization, k: int, against: bool = False
) -> Highlight:
    """The ``k`` components with the largest positive weights (fewer if fewer are positive).

    With ``against``, the ``k`` most negative ones instead: what works against the explained label
    (shown where no component works for it).
    """
    indices = explanation.against_k(k) if against else explanation.top_k(k)
    rows = factorization.by_source(indices)
    if rows:
        loud = np.flatnonzero(np.max(np.abs(np.stack(list(rows.values()))), axis=0) >= SILENCE_PEAK)
        first, last = (int(loud[0]), int(loud[-1]) + 1) if loud.size else (0, 0)
    else:
        first = last = 0
    rows = {source: row[first:last] for source, row in rows.items()}
    audio = np.sum(list(rows.values()), axis=0) if rows else np.zeros(0, np.float32)
    return Highlight(
        indices=indices,
        names=[factorization.names[i] for i in indices],
        descriptions=[factorization.describe(i) for i in indices],
        rows=rows,
        audio=np.asarray(audio, dtype=np.float32),
        start=first / factorization.sr,
        sr=factorization.sr,
    )


def empty_highlight_note(explanation: Explanation, against: Highlight) -> str:
    """What to say when no component has a positive weight: none raises (or lowers) the relevance,
    and those that do the opposite most (``against``)."""
    note = f"no component {raises(explanation.label)}s the relevance"
    if against.empty:
        return note
    return f"{note}; the components that {lowers(explanation.label)} it most: " + "; ".join(
        against.descriptions
    )


def segments_report(factorization: Factorization) -> list[dict]:
    """Where each time segment begins and ends (s), with its section label where the segmenter gives one."""
    segmentation = factorization.segmentation
    rows = []
    for index in range(segmentation.n_segments):
        start, end = segmentation.span_seconds(index)
        label = {"label": segmentation.labels[index]} if segmentation.labels else {}
        rows.append({"start_s": round(start, 3), "end_s": round(end, 3), **label})
    return rows


def report(result: TrackExplanation, k: int, context: dict | None = None) -> dict:
    """The JSON report: the question answered, weights per component, fidelity, the chosen components
    (and, under ``against_<k>``, the ``k`` that work against the explained label most), parameters,
    timings."""
    explanation, factorization = result.explanation, result.factorization
    chosen = {
        "top_highlight": highlight(explanation, factorization, 1),
        f"top_{k}": highlight(explanation, factorization, k),
        f"against_{k}": highlight(explanation, factorization, k, against=True),
    }
    return {
        **(context or {}),
        "track": result.track_id,
        "type": explanation.kind,
        "separator": explanation.separator,
        "parameters": {
            "n_samples": explanation.n_samples,
            "seed": explanation.seed,
            "n_segments": explanation.n_segments,
            "segmenter": factorization.segmentation.segmenter,
            "k": k,
        },
        "segments": segments_report(factorization),
        "relevance": explanation.relevance,
        "question": explanation.question,
        "explained_label": "relevant" if explanation.label == 1 else "not relevant",
        "answers": explanation.answers(),
        "fidelity": explanation.fidelity,
        "intercept": explanation.intercept,
        "local_prediction": explanation.local_prediction,
        "components": [
            {
                "index": i,
                "name": name,
                "description": factorization.describe(i),
                "weight": explanation.weights[i],
                "silent": i in explanation.silent,
            }
            for i, name in enumerate(explanation.component_names)
        ],
        **{
            key: {"components": h.names, "descriptions": h.descriptions, "start_s": h.start}
            for key, h in chosen.items()
        },
        **(
            {"note": empty_highlight_note(explanation, chosen[f"against_{k}"])}
            if chosen["top_highlight"].empty
            else {}
        ),
        "n_distinct_perturbations": explanation.n_distinct,
        "cached": result.cached,
        "timings": explanation.timings,
    }
