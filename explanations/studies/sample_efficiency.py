"""Sample efficiency of perturbation designs: how stable and how close to a reference are the
explanations each design gives at each N_s?

For each user model and test track, every design of
:data:`~explanations.audiolime.designs.DESIGNS` explains the track ``n_repeats`` times at each N_s, each
time on a neighbourhood of its own (the stability study's :func:`repeated_explanations`: one seed per
(design, N_s, repeat); SPEC's ``uniform`` runs are those of ``lemons experiments stability`` with the
same seed). Two measures per (design, N_s):

* **U_n**, as the stability study counts it (:func:`runs_agreement`): the distinct components among the
  runs' Top-k by absolute weight (the original LEMONS measure) and by positive weight.
* **distance to the reference**: the explanation of the same track with SPEC's sampler at
  N_s = ``reference_samples`` (16384, the audioLIME paper's N_s) stands in for the weights LIME would
  find with endless perturbations. :func:`weight_distance` is the Euclidean distance between the two
  weight vectors (pushes on the relevance) scaled to unit length, over the components that sound: 0 for
  the same direction, √2 for unrelated weights, 2 for opposite ones; scaling makes tracks whose
  weights are small count as much as the others, and the ranking of components only depends on the
  direction. The rows hold its mean over the runs, and the share of the reference's Top-k (by
  absolute weight) a run names, averaged over the runs.

A design is worth offering when it reaches uniform's stability with fewer perturbations; the summary
states, for each design, whether its mean U_n at N_s = 1024 is at most uniform's at N_s = 2048
(:data:`OFFER_RULE`). Each track is separated, factorized and given one scorer once; the reference's
patterns are scored first, and the exact FCN engine does not score a pattern twice.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from explanations.audiolime.designs import DESIGNS, UNIFORM
from explanations.audiolime.explainer import Explanation, check_n_samples, explain
from explanations.audiolime.factorization import Factorization
from explanations.audiolime.pipeline import ExplainSettings
from explanations.audiolime.questions import DEFAULT_QUESTION
from explanations.audiolime.scoring import PerturbationScorer
from explanations.studies.report import StudyReport, markdown_table, write_study
from explanations.studies.stability import (
    SAMPLE_SIZES,
    Column,
    check_repeats,
    grouped_table,
    grouped_violins,
    repeated_explanations,
    runs_agreement,
    study_tracks,
)
from lemons.errors import ConfigError
from lemons.interactions import stable_seed
from recsys.data import Dataset

REFERENCE_SAMPLES = 16_384  # the audioLIME paper's N_s
#: A design is offered to users only if at the first N_s it is as stable as uniform at the second.
OFFER_RULE = (1024, 2048)


@dataclass(frozen=True)
class SampleEfficiencyRow:
    """One user × track × design × N_s of ``sample-efficiency.csv``; ``*_positive`` by positive weight."""

    user: str
    track_id: str
    played: int  # the track's label in the test split (1 = played)
    design: str
    n_samples: int
    unique: int  # U_n: distinct components among the runs' Top-k by absolute weight
    unique_sources: int
    same_top: bool
    top_sets: str
    unique_positive: int
    unique_sources_positive: int
    same_top_positive: bool
    top_sets_positive: str
    fidelity: float  # mean over the runs
    distance: float  # mean over the runs of weight_distance to the reference
    reference_overlap: float  # mean share of the reference's Top-k (by |weight|) in a run's Top-k
    reference_top: str  # the reference's Top-k by absolute weight
    reference_fidelity: float


def reference_seed(seed: int) -> int:
    """The seed of a track's reference neighbourhood, apart from every compared one; below 2**32."""
    return stable_seed("sample-efficiency reference", seed) % 2**32


def unit(vector: np.ndarray) -> np.ndarray:
    """``vector`` scaled to length 1 (a zero vector stays zero)."""
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def weight_distance(weights: np.ndarray, reference: np.ndarray, silent: Sequence[int] = ()) -> float:
    """Euclidean distance between ``weights`` and ``reference`` ``[n_components]``, each scaled to unit
    length over the components not in ``silent``: 0 same direction, √2 unrelated, 2 opposite (1 when
    one of them is all zeros)."""
    sounding = np.setdiff1d(np.arange(len(reference)), np.asarray(silent, dtype=int))
    return float(np.linalg.norm(unit(np.asarray(weights)[sounding]) - unit(np.asarray(reference)[sounding])))


def reference_agreement(runs: Sequence[Explanation], reference: Explanation, k: int) -> dict:
    """``distance`` (mean :func:`weight_distance` of the runs' pushes on the relevance to the reference's)
    and ``reference_overlap`` (mean share of the reference's Top-k by absolute weight in the runs')."""
    target = reference.towards_relevance()
    top = set(reference.top_k_absolute(k))
    return {
        "distance": float(
            np.mean([weight_distance(run.towards_relevance(), target, reference.silent) for run in runs])
        ),
        "reference_overlap": float(
            np.mean([len(top & set(run.top_k_absolute(k))) / len(top) for run in runs]) if top else np.nan
        ),
    }


def track_sample_efficiency(
    factorization: Factorization,
    scorer: PerturbationScorer,
    designs: Sequence[str],
    sample_sizes: Sequence[int],
    n_repeats: int,
    k: int,
    seed: int,
    question: str = DEFAULT_QUESTION,
    reference_samples: int = REFERENCE_SAMPLES,
) -> list[dict]:
    """Per design and N_s: ``design``, ``n_samples``, :func:`runs_agreement`'s and
    :func:`reference_agreement`'s keys, and the reference's Top-k and fidelity.

    The reference is SPEC's explanation at N_s = ``reference_samples`` (on :func:`reference_seed`'s
    neighbourhood); every compared run is on a neighbourhood of its own.
    """
    reference = explain(factorization, scorer, reference_samples, reference_seed(seed), question=question)
    about_reference = {
        "reference_top": " ".join(factorization.names[i] for i in reference.top_k_absolute(k)),
        "reference_fidelity": reference.fidelity,
    }
    results = []
    for design in designs:
        for n_samples in sample_sizes:
            runs = repeated_explanations(factorization, scorer, n_samples, n_repeats, seed, question, design)
            results.append(
                {"design": design, "n_samples": n_samples}
                | runs_agreement(runs, k, factorization)
                | reference_agreement(runs, reference, k)
                | about_reference
            )
    return results


def sample_efficiency_study(
    users: list[str],
    dataset: Dataset,
    out_dir: Path,
    *,
    kind: str = "time+source",
    n_tracks: int = 5,
    designs: Sequence[str] = DESIGNS.names(),
    sample_sizes: tuple[int, ...] = SAMPLE_SIZES,
    reference_samples: int = REFERENCE_SAMPLES,
    n_repeats: int = 5,
    k: int = 3,
    seed: int = 0,
    question: str = DEFAULT_QUESTION,
    separator: str | None = None,
    device: torch.device | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> list[SampleEfficiencyRow]:
    """Compare the ``designs`` on the first ``n_tracks`` test tracks of each user; write the study.

    Writes ``sample-efficiency.csv`` (one row per user × track × design × N_s),
    ``sample-efficiency.png`` (U_n and the distance to the reference per N_s, by design) and
    ``summary.md`` into ``out_dir``.

    Raises:
        ConfigError: an unknown design, no design, bad numbers, or a reference smaller than the
            largest N_s compared.
    """
    check_repeats(sample_sizes, n_tracks, n_repeats, k)
    check_n_samples(reference_samples)
    if not designs:
        raise ConfigError("name at least one perturbation design to compare")
    for design in designs:
        DESIGNS[design]  # an unknown design raises ConfigError, listing the known ones
    if reference_samples < max(sample_sizes):
        raise ConfigError(
            f"the reference fit needs at least as many perturbations as the largest N_s compared "
            f"({max(sample_sizes)}), got {reference_samples}"
        )
    started = time.perf_counter()
    settings = ExplainSettings(kind, question=question)  # unknown types and questions raise here
    rows: list[SampleEfficiencyRow] = []
    tracks = study_tracks(
        users, dataset, settings, n_tracks, study="sample-efficiency", separator=separator, device=device,
        cache_dir=cache_dir, progress=progress,
    )  # fmt: skip
    for track in tracks:
        for result in track_sample_efficiency(
            track.factorization, track.scorer, designs, sample_sizes, n_repeats, k, seed, question,
            reference_samples,
        ):  # fmt: skip
            rows.append(SampleEfficiencyRow(track.user, track.track_id, track.played, **result))
    table = pd.DataFrame([asdict(r) for r in rows])
    summary = sample_efficiency_summary(
        table, kind=kind, k=k, n_repeats=n_repeats, reference_samples=reference_samples,
        seconds=time.perf_counter() - started,
    )  # fmt: skip
    figures = {"sample-efficiency.png": sample_efficiency_figure(table, k, n_repeats, reference_samples)}
    write_study(StudyReport("sample-efficiency", table, summary, figures), out_dir)
    return rows


def summary_columns(k: int) -> list[Column]:
    """The summary's columns after the grouping ones (design, N_s)."""
    return [
        ("tracks", len),
        ("mean U_n (abs)", lambda t: f"{t['unique'].mean():.2f}"),
        ("median U_n (abs)", lambda t: f"{t['unique'].median():g}"),
        ("mean U_n (pos)", lambda t: f"{t['unique_positive'].mean():.2f}"),
        (f"same Top-{k} in every run (abs)", lambda t: f"{t['same_top'].mean():.0%}"),
        ("distance to the reference", lambda t: f"{t['distance'].mean():.3f}"),
        (f"reference Top-{k} named", lambda t: f"{t['reference_overlap'].mean():.0%}"),
        ("mean fidelity", lambda t: f"{t['fidelity'].mean():.2f}"),
    ]


def offer_rule_rows(table: pd.DataFrame) -> list[list[object]]:
    """Per design besides uniform: its mean U_n (abs) and distance at N_s = ``OFFER_RULE[0]``, uniform's
    at ``OFFER_RULE[1]``, and whether it is at least as stable (``yes``/``no``). Empty when the table
    lacks uniform or either N_s."""
    fewer, more = OFFER_RULE
    at = {(d, n): part for (d, n), part in table.groupby(["design", "n_samples"], sort=False)}
    if (UNIFORM, more) not in at:
        return []
    baseline = at[UNIFORM, more]
    rows = []
    for design in dict.fromkeys(table["design"]):
        if design == UNIFORM or (design, fewer) not in at:
            continue
        mine = at[design, fewer]
        stable = mine["unique"].mean() <= baseline["unique"].mean()
        rows.append(
            [
                design,
                f"{mine['unique'].mean():.2f}",
                f"{baseline['unique'].mean():.2f}",
                f"{mine['distance'].mean():.3f}",
                f"{baseline['distance'].mean():.3f}",
                "yes" if stable else "no",
            ]
        )
    return rows


def sample_efficiency_summary(
    table: pd.DataFrame, *, kind: str, k: int, n_repeats: int, reference_samples: int, seconds: float
) -> list[str]:
    """``summary.md``: U_n, the distance to the reference, agreement and fidelity per design × N_s over
    all tracks, then the offer rule per design (when the run has both of its N_s)."""
    fewer, more = OFFER_RULE
    n_tracks = table.groupby("user")["track_id"].nunique().sum()
    tracks = f"{n_tracks} test track{'s' if n_tracks != 1 else ''}"
    users = ", ".join(dict.fromkeys(table["user"]))
    lines = [
        "# Sample efficiency of perturbation designs",
        "",
        f"{kind} explanations of {tracks} of {users}, computed {n_repeats} times for each "
        f"design and N_s, each time on a neighbourhood of its own. U_n = distinct components among the "
        f"{n_repeats} Top-{k}s ({k} = the same components every time); *abs*: by absolute weight, as the "
        f"original LEMONS study; *pos*: by positive weight. Distance to the reference: Euclidean distance "
        f"between a run's weights and those of SPEC's uniform design at N_s = {reference_samples}, both "
        f"scaled to unit length (0 = same direction, 1.41 = unrelated), mean over the runs; *reference "
        f"Top-{k} named*: the share of the reference's Top-{k} (by absolute weight) a run names. Run "
        f"time: {seconds / 60:.1f} min.",
        "",
        *grouped_table(table, [("design", "design"), ("n_samples", "N_s")], summary_columns(k)),
    ]
    rule = offer_rule_rows(table)
    if rule:
        lines += [
            "",
            f"A design is offered only if at N_s = {fewer} it is at least as stable as uniform at N_s = "
            f"{more} (mean U_n by absolute weight); on this run:",
            "",
            *markdown_table(
                [
                    "design",
                    f"mean U_n at {fewer}",
                    f"uniform's mean U_n at {more}",
                    f"distance at {fewer}",
                    f"uniform's distance at {more}",
                    "at least as stable",
                ],
                rule,
            ),
        ]
    return lines


def sample_efficiency_figure(table: pd.DataFrame, k: int, n_repeats: int, reference_samples: int) -> Figure:
    """Left: violins of U_n (by absolute weight) per N_s, one per design; right: the mean distance to the
    reference per N_s, a line per design."""
    designs = list(dict.fromkeys(table["design"]))
    sizes = sorted(table["n_samples"].unique())
    figure = Figure(figsize=(max(9.0, 3 + 0.6 * len(designs) * len(sizes)), 3.8), layout="constrained")
    left, right = figure.subplots(1, 2, width_ratios=(3, 2))
    grouped_violins(left, table, [(d, table[table["design"] == d], "unique") for d in designs])
    left.axhline(k, color="grey", lw=0.6, ls="--")
    left.set_ylabel(f"U_n of {n_repeats} Top-{k}s (by |weight|)")
    left.legend(title="design", fontsize=8)
    for index, design in enumerate(designs):
        mine = table[table["design"] == design].groupby("n_samples")["distance"].mean()
        right.plot(
            [sizes.index(n) for n in mine.index], mine.to_numpy(), marker="o", color=f"C{index}", label=design
        )
    right.set_xticks(range(len(sizes)), [str(n) for n in sizes])
    right.set_xlabel("N_s")
    right.set_ylabel(f"distance to the N_s = {reference_samples} fit (unit weights)")
    right.set_ylim(bottom=0)
    return figure
