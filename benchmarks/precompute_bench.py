"""Throughput of ``lemons precompute`` on a local Ray: ranking and explanations with 1 and 2 workers,
side by side with the single-process path (``lemons rank`` / ``lemons explain``) and the ratios.

    python benchmarks/precompute_bench.py                            # 24 generated 30 s tracks, 2 users
    python benchmarks/precompute_bench.py --tracks 64 --workers 1 2 4
    python benchmarks/precompute_bench.py --catalogue-dir /tmp/bench-24   # generated once, kept
    python benchmarks/precompute_bench.py --catalogue-dir data/builtin --users nina elizabeth paige

Every measurement starts from an empty cache of its own (a temporary folder; the catalogue is only
read). The workers are started and ready (PyTorch imported, catalogue opened) before the clock
starts, so the rates are those of the work, not of Ray's start-up, which the table lists apart.
Also printed: the cost of one whole-track FCN forward pass on one CPU thread, and of its first three
conv blocks (what users fine-tuned from the shared model share), for planning larger runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.page_load_bench import cpu_name
from explanations.audiolime.pipeline import ExplainSettings, explain_track
from explanations.audiolime.separation import available_separators
from explanations.precompute.cluster import ClusterOptions, ray_session
from explanations.precompute.jobs import Workload, explain_job, rank_job
from lemons.allocator import keep_freed_memory
from lemons.catalogue.builtin import BuiltinCatalogue
from lemons.config import get_settings
from recsys.candidates import candidates
from recsys.checkpoint import find_model, load_checkpoint
from recsys.inference import place
from recsys.model import FCN
from recsys.ranking import rank_tracks


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def fresh_cache(root: Path, name: str) -> Path:
    """An empty cache folder, made the ``cache_dir`` setting (the workers get it from the settings)."""
    folder = root / name
    os.environ["LEMONS_CACHE_DIR"] = str(folder)
    get_settings.cache_clear()
    return folder


def fcn_costs(repeats: int = 3) -> tuple[float, float]:
    """Seconds of one 30 s track through the whole FCN, and through its first three blocks (1 thread)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = place(FCN().eval(), torch.device("cpu"))  # as a loaded checkpoint runs
        audio = torch.from_numpy(
            np.random.default_rng(0).standard_normal((1, 30 * 16_000)).astype(np.float32)
        )
        with torch.inference_mode():
            model(audio)
            started = time.perf_counter()
            for _ in range(repeats):
                model(audio)
            whole = (time.perf_counter() - started) / repeats
            started = time.perf_counter()
            for _ in range(repeats):
                model.block_features(model.spectrogram(audio), 3)
            prefix = (time.perf_counter() - started) / repeats
    finally:
        torch.set_num_threads(threads)
    return whole, prefix


def single_process(
    catalogue_dir: Path, users: list[str], settings: list[ExplainSettings], top: int, cache: Path
) -> dict[str, float]:
    """Seconds of ranking then explaining in this process, as ``lemons rank`` and ``lemons explain`` do."""
    seconds: dict[str, float] = {}
    items = []
    started = time.perf_counter()
    for user in users:
        recommender = load_checkpoint(find_model(user))
        found = candidates("builtin", recommender, user, catalogue_dir)
        rank_tracks(recommender, found.catalogue, None, cache_dir=cache, progress=False, include_history=True)
        ranking = rank_tracks(
            recommender, found.catalogue, None, cache_dir=cache, progress=False, history=found.history
        )
        items += [(recommender, found.catalogue, item.track_id) for item in ranking.top(top)]
    seconds["rank"] = time.perf_counter() - started
    for kind_settings in settings:
        started = time.perf_counter()
        for recommender, catalogue, track_id in items:
            explain_track(recommender, catalogue, track_id, kind_settings, cache_dir=cache)
        seconds[kind_settings.kind] = time.perf_counter() - started
    return seconds


def on_ray(
    catalogue_dir: Path, users: list[str], settings: list[ExplainSettings], top: int, workers: int
) -> dict[str, float]:
    """Seconds of Ray's start-up, of the ranking and of each type's explanations with ``workers``."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    work = Workload.open("builtin", catalogue_dir, users)
    with ray_session(ClusterOptions(workers=workers)) as cluster:
        separator = available_separators(work.catalogue)[0]
        work.start(cluster, [separator])
        cluster.ray.get([actor.pid.remote() for actor in cluster.actors])  # ready: imports done
        seconds["start"] = time.perf_counter() - started
        seconds["rank"] = rank_job(cluster, work, progress=False).seconds
        for kind_settings in settings:
            used = separator if kind_settings.needs_sources else None
            report = explain_job(cluster, work, [kind_settings], used, top, progress=False)
            if report.skipped:
                raise RuntimeError(f"explanations skipped: {report.skipped}")
            seconds[kind_settings.kind] = report.seconds
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--catalogue-dir",
        type=Path,
        help="a built-in catalogue; generated and kept there where it holds none (default: a temporary one)",
    )
    parser.add_argument("--tracks", type=int, default=24, help="tracks of the generated catalogue (24)")
    parser.add_argument("--users", nargs="+", default=["nina", "elizabeth"])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--types", nargs="+", default=["time", "source"])
    parser.add_argument("--top", type=int, default=1, help="explanations per user and type (1)")
    parser.add_argument("--n-samples", type=int, default=64, help="perturbations N_s (64)")
    parser.add_argument("--no-single", action="store_true", help="leave out the single-process column")
    args = parser.parse_args()
    keep_freed_memory()
    load_before = load_average()
    root = Path(tempfile.mkdtemp(prefix="lemons-bench-"))
    try:
        catalogue_dir = args.catalogue_dir or root / "catalogue"
        if not (catalogue_dir / "manifest.json").is_file():
            from lemons.synth.build import build_catalogue

            print(f"generating {args.tracks} tracks of 30 s (the built-in catalogue's first {args.tracks}) …")
            build_catalogue(catalogue_dir, n_tracks=args.tracks, seed=0, workers=2, progress=False)
        n_tracks = len(BuiltinCatalogue(catalogue_dir))
        settings = [ExplainSettings(kind, args.n_samples) for kind in args.types]
        n_explanations = len(args.users) * args.top
        columns: dict[str, dict[str, float]] = {}
        if not args.no_single:
            columns["1 process"] = single_process(
                catalogue_dir, args.users, settings, args.top, fresh_cache(root, "single")
            )
        for workers in args.workers:
            fresh_cache(root, f"ray-{workers}")
            name = f"{workers} worker{'s' if workers > 1 else ''}"
            columns[name] = on_ray(catalogue_dir, args.users, settings, args.top, workers)
        whole, prefix = fcn_costs()

        print()
        cores = len(os.sched_getaffinity(0))
        print(f"CPU: {cpu_name()}, {cores} cores; load average before: {load_before}")
        print(f"torch {torch.__version__}; {torch.get_num_threads()} threads in one process, 1 per worker")
        print(
            f"catalogue: {n_tracks} tracks of 30 s; users: {', '.join(args.users)}; "
            f"explanations: top {args.top} per user, N_s = {args.n_samples}"
        )
        names = list(columns)
        ray_names = [n for n in names if n != "1 process"]
        head = f"{'':28}" + "".join(f"{n:>12}" for n in names)
        if len(ray_names) > 1:
            head += "".join(
                f"{n.split()[0] + 'w/' + ray_names[0].split()[0] + 'w':>10}" for n in ray_names[1:]
            )
        print(head)
        rows = [("rank (scores/s)", "rank", n_tracks * len(args.users))]
        rows += [(f"explain {s.kind} (expl./s)", s.kind, n_explanations) for s in settings]
        for label, key, units in rows:
            rates = [units / columns[n][key] for n in names]
            line = f"{label:28}" + "".join(f"{rate:12.3f}" for rate in rates)
            base = units / columns[ray_names[0]][key] if ray_names else None
            line += "".join(f"{units / columns[n][key] / base:10.2f}" for n in ray_names[1:])
            print(line)
        print(f"{'Ray start-up (s)':28}" + "".join(f"{columns[n].get('start', 0):12.1f}" for n in names))
        print(f"one 30 s track, 1 thread: whole FCN {whole:.2f} s, its first 3 blocks {prefix:.2f} s")
        print(f"load average after: {load_average()}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
