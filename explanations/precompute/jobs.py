"""The precomputations, run on Ray: separations of a catalogue, rankings of it for users, and
explanations of each user's top tracks, written into the caches ``lemons rank``, ``lemons explain``
and the page read, so that what was precomputed is served from the cache.

Each job plans on the driver what the caches lack (what is there is skipped: a job run again, or
after an interruption, does only the rest), sends it in batches to the workers
(:class:`~explanations.precompute.worker.PrecomputeWorker`) and reports what it computed, what it
found cached and what it skipped, with why.

* **rank**: the tracks of a catalogue (the same ones ``lemons rank --include-history`` ranks, a
  user's listening history included) in chunks of :data:`recsys.ranking.RANK_CHUNK`, each track read
  once and scored by every user's recommender that lacks it, as
  :func:`~recsys.ranking.rank_tracks` scores a chunk. The scores (one file per model) are written by
  the driver alone: at least every :data:`SAVE_EVERY_S` seconds, and when the run ends or is
  interrupted, in the order ``lemons rank`` would have written them.
* **explain**: first the rankings, then each user's top tracks (the recommendations the page shows
  first, the listening history left out) explained for every type asked, through
  :func:`~explanations.audiolime.pipeline.explain_track`; a track's explanations go to one worker,
  so it is separated once.
* **separate**: every track of a catalogue through a cached separator (Spleeter), through
  :func:`~explanations.audiolime.separation.separate_cached`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from explanations.audiolime.explainer import DEFAULT_SAMPLES
from explanations.audiolime.factorization import DEFAULT_SEGMENTS, EXPLANATION_TYPES
from explanations.audiolime.pipeline import ExplainSettings, ExplanationCache, explanation_key
from explanations.audiolime.questions import DEFAULT_QUESTION
from explanations.audiolime.segmenters import DEFAULT_SEGMENTER
from explanations.audiolime.separation import SEPARATORS, available_separators, get_separator
from explanations.precompute.cluster import Batch, Cluster, ClusterOptions, ray_session, run_batches
from explanations.precompute.worker import (
    CACHED,
    COMPUTED,
    ExplainItem,
    PrecomputeWorker,
    ScoreTask,
)
from lemons.catalogue.base import Catalogue
from lemons.catalogue.registry import CATALOGUES, CatalogueEntry
from lemons.config import get_settings
from lemons.errors import ConfigError, DataError, SeparationError
from recsys.candidates import candidates
from recsys.checkpoint import Recommender, find_model, load_checkpoint
from recsys.ranking import RANK_CHUNK, ScoreCache, rank_tracks

#: While a ranking runs, the scores are saved when a result comes this long (seconds) after the last save.
SAVE_EVERY_S = 10.0
#: Explanations of a user's top tracks, by default (the page shows the top 10).
DEFAULT_TOP = 3
#: Tracks per task of a separation job.
SEPARATE_BATCH = 4

ProgressFn = Callable[[int, int], None]


@dataclass
class Report:
    """What a job did: ``computed`` now, found ``cached``, ``skipped`` as ``(what, reason)``."""

    job: str
    unit: str
    workers: str = ""
    computed: int = 0
    cached: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        """One line: the counts, the time and the throughput."""
        rate = f", {self.computed / self.seconds:.2f} {self.unit}/s" if self.computed and self.seconds else ""
        return (
            f"{self.job}: {self.computed} {self.unit} computed, {self.cached} already cached, "
            f"{len(self.skipped)} skipped; {self.seconds:.1f} s{rate} on {self.workers}"
        )


@dataclass
class Workload:
    """What a job works on, as the driver sees it: the catalogue and each user's recommender (on CPU,
    for its checksum and history; the workers load their own)."""

    entry: CatalogueEntry
    folder: Path
    catalogue: Catalogue
    recommenders: dict[str, Recommender]
    cache_dir: Path
    _keys: dict[str, str] = field(default_factory=dict)

    @classmethod
    def open(cls, catalogue: str, path: Path | str | None, users: Sequence[str]) -> Workload:
        """The catalogue ``catalogue`` (at ``path``, default: its setting) and the users' published models."""
        entry = CATALOGUES[catalogue]
        if entry.location == "upload":
            raise ConfigError(f"the {catalogue} catalogue is the page's uploads; precompute a folder instead")
        folder = entry.folder(path)
        opened = entry.open(folder)
        if not len(opened):
            raise DataError(f"the {catalogue} catalogue in {folder} has no tracks")
        recommenders = {user: load_checkpoint(find_model(user), "cpu") for user in dict.fromkeys(users)}
        return cls(entry, folder, opened, recommenders, get_settings().cache_dir)

    def audio_key(self, track_id: str) -> str:
        """The track's audio checksum (the caches' key), computed once."""
        if track_id not in self._keys:
            self._keys[track_id] = self.catalogue.audio_checksum(track_id)
        return self._keys[track_id]

    def start(self, cluster: Cluster, separators: Sequence[str] = ()) -> None:
        """Start the cluster's workers on this workload."""
        models = {user: str(recommender.path) for user, recommender in self.recommenders.items()}
        cluster.start_workers(
            PrecomputeWorker,
            get_settings().as_dict(),
            self.entry,
            str(self.folder),
            [SEPARATORS[name] for name in separators],
            models,
        )


@dataclass
class _UserScores:
    """One user's score cache during a ranking job."""

    ids: list[str]
    cache: ScoreCache
    todo: set[str]
    prior: list[str]
    changed: bool = False

    def save(self, work: Workload, final: bool = False) -> None:
        """Write the scores if they changed; at the end in ``lemons rank``'s order (what was there,
        then by track), whatever order they came in."""
        if final:
            scores = self.cache.scores
            order = dict.fromkeys([*self.prior, *(work.audio_key(t) for t in self.ids)])
            ordered = {key: scores[key] for key in order if key in scores} | scores
            if list(ordered) != list(scores):
                self.cache.scores, self.changed = ordered, True
        if self.changed:
            self.cache.save()
            self.changed = False


def _by_track(batch: Batch) -> list[Batch]:
    """A failed ranking chunk as one task per track."""
    (task,) = batch.items
    if len(task.track_ids) < 2:
        return []
    return [
        Batch(
            (ScoreTask((t,), {u: (t,) for u, ids in task.users.items() if t in ids}, task.ranking_sizes),),
            1,
        )
        for t in task.track_ids
    ]


def rank_job(
    cluster: Cluster,
    work: Workload,
    batch: int = RANK_CHUNK,
    progress: bool = True,
    on_progress: ProgressFn | None = None,
) -> Report:
    """Score every user's tracks that the score caches lack (see the module doc)."""
    started = time.perf_counter()
    report = Report("rank", "scores", cluster.description)
    plans: dict[str, _UserScores] = {}
    for user, recommender in work.recommenders.items():
        found = candidates(work.entry.name, recommender, user, work.folder, catalogue=work.catalogue)
        ids = list(found.track_ids) if found.track_ids is not None else work.catalogue.ids
        cache = ScoreCache(work.cache_dir, recommender.checksum)
        todo = {t for t in ids if work.audio_key(t) not in cache.scores}
        report.cached += len(ids) - len(todo)
        plans[user] = _UserScores(ids, cache, todo, list(cache.scores))
    position = {t: i for i, t in enumerate(work.catalogue.ids)}
    union = sorted(set().union(*(plan.todo for plan in plans.values())), key=position.__getitem__)
    sizes = {user: len(plan.ids) for user, plan in plans.items()}
    batches = []
    for start in range(0, len(union), batch):
        chunk = tuple(union[start : start + batch])
        users = {user: tuple(t for t in chunk if t in plan.todo) for user, plan in plans.items()}
        task = ScoreTask(chunk, {user: ids for user, ids in users.items() if ids}, sizes)
        batches.append(Batch((task,), len(chunk)))
    skipped: dict[str, str] = {}
    saved = time.perf_counter()

    def on_result(done: Batch, results: list) -> None:
        nonlocal saved
        for scores, failed in results:
            for user, logits in scores.items():
                plan = plans[user]
                for track_id, logit in logits.items():
                    plan.cache.scores[work.audio_key(track_id)] = logit
                plan.changed = True
                report.computed += len(logits)
            for track_id, reason in failed:
                skipped.setdefault(track_id, reason)
        if time.perf_counter() - saved > SAVE_EVERY_S:
            for plan in plans.values():
                plan.save(work)
            saved = time.perf_counter()

    def on_failure(failed: Batch, reason: str) -> None:
        for task in failed.items:
            for track_id in task.track_ids:
                skipped.setdefault(track_id, reason)

    try:
        run_batches(
            cluster,
            "score",
            batches,
            on_result,
            on_failure,
            split=_by_track,
            desc=f"rank ({len(plans)} users)",
            unit="track",
            progress=progress,
            on_progress=on_progress,
        )
    finally:  # an interrupted run keeps every score it got
        for plan in plans.values():
            plan.save(work, final=True)
    report.skipped = sorted(skipped.items())
    report.seconds = time.perf_counter() - started
    return report


def precompute_rank(
    catalogue: str,
    users: Sequence[str],
    path: Path | str | None = None,
    *,
    options: ClusterOptions | None = None,
    batch: int = RANK_CHUNK,
    progress: bool = True,
    on_progress: ProgressFn | None = None,
) -> Report:
    """Rank catalogue ``catalogue`` (at ``path``, default: its setting) for each of ``users`` into the
    score cache, on Ray (``options``: a local Ray by default)."""
    work = Workload.open(catalogue, path, users)
    with ray_session(options or ClusterOptions()) as cluster:
        work.start(cluster)
        return rank_job(cluster, work, batch, progress, on_progress)


def explanation_separator(
    work: Workload, settings: Sequence[ExplainSettings], name: str | None
) -> str | None:
    """The separator the explanations use (``name``, else the best available, as ``lemons explain``
    and the page choose it), checked to work here; ``None`` where no type needs one."""
    if not any(s.needs_sources for s in settings):
        return None
    if name is None:
        choices = available_separators(work.catalogue)
        if not choices:
            raise SeparationError(
                "no separator is available: install Spleeter's weights (lemons setup weights)"
            )
        name = choices[0]
    get_separator(name, work.catalogue, work.catalogue.ids[0])  # raises where it cannot run
    return name


def explain_job(
    cluster: Cluster,
    work: Workload,
    settings: Sequence[ExplainSettings],
    separator: str | None,
    top: int = DEFAULT_TOP,
    batch: int = 1,
    unscorable: frozenset[str] = frozenset(),
    progress: bool = True,
    on_progress: ProgressFn | None = None,
) -> Report:
    """Explain each user's ``top`` tracks (their rankings must be cached) for every ``settings``.

    ``unscorable``: tracks the ranking skipped; ``batch``: tracks per task.
    """
    started = time.perf_counter()
    report = Report("explain", "explanations", cluster.description)
    cache = ExplanationCache(work.cache_dir)
    by_track: dict[str, list[ExplainItem]] = {}
    for user, recommender in work.recommenders.items():
        found = candidates(work.entry.name, recommender, user, work.folder, catalogue=work.catalogue)
        every = found.track_ids if found.track_ids is not None else work.catalogue.ids
        ids = [t for t in every if t not in unscorable]
        ranking = rank_tracks(
            recommender, work.catalogue, ids, cache_dir=work.cache_dir, progress=False, history=found.history
        )
        for ranked in ranking.top(top):
            for item_settings in settings:
                used = separator if item_settings.needs_sources else None
                key = explanation_key(
                    recommender.checksum, work.audio_key(ranked.track_id), item_settings, used
                )
                if cache.get(key) is not None:
                    report.cached += 1
                    continue
                by_track.setdefault(ranked.track_id, []).append(
                    ExplainItem(user, ranked.track_id, item_settings, used)
                )
    tracks = list(by_track)
    batches = []
    for start in range(0, len(tracks), batch):
        items = tuple(item for t in tracks[start : start + batch] for item in by_track[t])
        batches.append(Batch(items, len(items)))

    def name(item: ExplainItem) -> str:
        return f"{item.user}: {item.track_id} ({item.settings.kind})"

    def on_result(done: Batch, results: list[tuple[str, str]]) -> None:
        for item, (status, reason) in zip(done.items, results, strict=True):
            if status == COMPUTED:
                report.computed += 1
            elif status == CACHED:
                report.cached += 1
            else:
                report.skipped.append((name(item), reason))

    def on_failure(failed: Batch, reason: str) -> None:
        report.skipped.extend((name(item), reason) for item in failed.items)

    run_batches(
        cluster,
        "explain",
        batches,
        on_result,
        on_failure,
        desc="explain",
        unit="explanation",
        progress=progress,
        on_progress=on_progress,
    )
    report.seconds = time.perf_counter() - started
    return report


def precompute_explain(
    catalogue: str,
    users: Sequence[str],
    types: Sequence[str] | None = None,
    path: Path | str | None = None,
    *,
    top: int = DEFAULT_TOP,
    n_samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    n_segments: int = DEFAULT_SEGMENTS,
    segmenter: str = DEFAULT_SEGMENTER,
    question: str = DEFAULT_QUESTION,
    separator: str | None = None,
    options: ClusterOptions | None = None,
    batch: int = 1,
    progress: bool = True,
    on_progress: ProgressFn | None = None,
) -> list[Report]:
    """Rank ``catalogue`` for ``users`` (what is not cached yet), then explain each user's ``top``
    tracks for each of ``types`` (default: every explanation type) into the explanation cache.

    Returns the ranking's report and the explanations'.
    """
    if top < 1:
        raise ConfigError(f"top must be at least 1, got {top}")
    kinds = list(dict.fromkeys(types or EXPLANATION_TYPES.names()))
    settings = [
        ExplainSettings(kind, n_samples, seed, n_segments, question, segmenter=segmenter) for kind in kinds
    ]
    work = Workload.open(catalogue, path, users)
    used = explanation_separator(work, settings, separator)
    with ray_session(options or ClusterOptions()) as cluster:
        work.start(cluster, [used] if used else [])
        ranked = rank_job(cluster, work, progress=progress, on_progress=on_progress)
        unscorable = frozenset(track_id for track_id, _ in ranked.skipped)
        explained = explain_job(
            cluster, work, settings, used, top, batch, unscorable, progress=progress, on_progress=on_progress
        )
    return [ranked, explained]


def separation_to_cache(catalogue: Catalogue, name: str | None) -> str:
    """The separator a separation job runs: ``name``, else the best available one whose results are
    cached; a separator whose results are not cached (the true stems) is refused."""
    if name is None:
        cached = [n for n in available_separators(catalogue) if SEPARATORS[n].cacheable]
        if not cached:
            raise SeparationError(
                "no cached separator is available: install Spleeter's weights (lemons setup weights)"
            )
        name = cached[0]
    if not SEPARATORS[name].cacheable:
        raise ConfigError(
            f"the {name} separator is read as it is and never cached: there is nothing to precompute; "
            "choose a Spleeter separator"
        )
    get_separator(name, catalogue, catalogue.ids[0])  # raises where it cannot run (weights missing)
    return name


def precompute_separate(
    catalogue: str,
    separator: str | None = None,
    path: Path | str | None = None,
    *,
    options: ClusterOptions | None = None,
    batch: int = SEPARATE_BATCH,
    progress: bool = True,
    on_progress: ProgressFn | None = None,
) -> Report:
    """Separate every track of ``catalogue`` with ``separator`` (default: the best cached one) into
    the separation cache, on Ray."""
    work = Workload.open(catalogue, path, ())
    name = separation_to_cache(work.catalogue, separator)
    report = Report(f"separate ({name})", "separations")
    ids = work.catalogue.ids
    batches = [Batch(tuple(ids[i : i + batch]), len(ids[i : i + batch])) for i in range(0, len(ids), batch)]

    def on_result(done: Batch, results: list[tuple[str, str]]) -> None:
        for track_id, (status, reason) in zip(done.items, results, strict=True):
            if status == COMPUTED:
                report.computed += 1
            elif status == CACHED:
                report.cached += 1
            else:
                report.skipped.append((track_id, reason))

    def on_failure(failed: Batch, reason: str) -> None:
        report.skipped.extend((track_id, reason) for track_id in failed.items)

    started = time.perf_counter()
    with ray_session(options or ClusterOptions()) as cluster:
        report.workers = cluster.description
        work.start(cluster, [name])
        run_batches(
            cluster,
            "separate",
            batches,
            on_result,
            on_failure,
            args=(name,),
            desc=f"separate ({name})",
            unit="track",
            progress=progress,
            on_progress=on_progress,
        )
    report.seconds = time.perf_counter() - started
    return report
