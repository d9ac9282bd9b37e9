"""Whole-track scoring for a ranking: the ways of running the frozen blocks, side by side, then rankings.

A cold ranking of the built-in catalogue is almost all the first conv blocks on whole tracks (the
prefix :class:`recsys.features.FeatureStore` caches). Part 1 times the ways of computing that prefix
on the same tracks: PyTorch's modules (as they are, channels-last, batched, one thread), TorchScript
frozen for inference, ``torch.compile``, and ONNX Runtime (batched, one thread), each with the
largest difference of its feature maps from the modules'. Part 2 ranks the tracks on an empty cache
the way the page does: the whole model per track (the ranking before the feature cache), the cached
prefix computed by PyTorch, by ONNX Runtime (what ``rank_tracks`` does on a CPU now), and with the
prefix already cached (a persona switch after ``make demo``), with the largest logit difference
from the whole model. Every time is the best of ``--repeats`` runs; the CPU is printed.

    python benchmarks/ranking_bench.py                     # marko, 24 tracks of the built-in catalogue
    python benchmarks/ranking_bench.py --tracks 64 --user elizabeth
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.page_load_bench import cpu_name
from lemons.catalogue import open_catalogue
from recsys.checkpoint import find_model, load_checkpoint
from recsys.features import FeatureStore
from recsys.inference import score_waveforms
from recsys.onnx_prefix import OnnxBlocks
from recsys.ranking import RANK_CHUNK, rank_tracks, track_logits

Prefix = Callable[[torch.Tensor], np.ndarray]


def best_of(repeats: int, run: Callable[[], object]) -> tuple[float, object]:
    """The shortest wall time of ``repeats`` calls of ``run``, and its last result."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return min(times), result


def with_threads(threads: int, prefix: Prefix) -> Prefix:
    """``prefix`` run with ``threads`` PyTorch threads."""

    def run(model_input: torch.Tensor) -> np.ndarray:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return prefix(model_input)
        finally:
            torch.set_num_threads(before)

    return run


def prefix_variants(model, depth: int, example: torch.Tensor) -> dict[str, tuple[Prefix, int]]:
    """Name → (prefix function on the model input ``[batch, 1, n_mels, frames]``, batch size)."""
    blocks = copy.deepcopy(model.blocks[:depth]).eval()
    as_numpy = lambda module: lambda x: module(x).float().numpy()  # noqa: E731
    channels_last = copy.deepcopy(blocks).to(memory_format=torch.channels_last)
    to_channels_last = lambda x: x.contiguous(memory_format=torch.channels_last)  # noqa: E731
    frozen = torch.jit.optimize_for_inference(torch.jit.trace(copy.deepcopy(blocks), example))
    compiled = torch.compile(copy.deepcopy(blocks))
    onnx = OnnxBlocks(model, depth)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    onnx_single = OnnxBlocks(model, depth)
    torch.set_num_threads(before)
    return {
        "PyTorch modules (before)": (as_numpy(blocks), 1),
        "PyTorch, channels-last": (lambda x: as_numpy(channels_last)(to_channels_last(x)), 1),
        "PyTorch, 4 tracks a batch": (as_numpy(blocks), 4),
        "PyTorch, 1 thread": (with_threads(1, as_numpy(blocks)), 1),
        "TorchScript optimize_for_inference": (as_numpy(frozen), 1),
        "torch.compile": (as_numpy(compiled), 1),
        "ONNX Runtime": (onnx, 1),
        "ONNX Runtime, 4 tracks a batch": (onnx, 4),
        "ONNX Runtime, 1 thread": (onnx_single, 1),
    }  # fmt: skip


@torch.inference_mode()
def part_prefix(model, depth: int, waveforms: list[np.ndarray], repeats: int) -> None:
    inputs = [model.spectrogram(torch.from_numpy(w[None])) for w in waveforms]
    reference = [model.block_features(x, depth).numpy() for x in inputs]
    variants = prefix_variants(model, depth, inputs[0].clone())
    print("\n| frozen blocks computed by | s / track | speed-up | max abs Δ of the features |")
    print("|---|---|---|---|")
    base = None
    for name, (prefix, batch) in variants.items():
        prefix(inputs[0].clone())  # warm-up (compilation, first allocations)

        def run(prefix=prefix, batch=batch) -> list[np.ndarray]:
            out: list[np.ndarray] = []
            for start in range(0, len(inputs), batch):
                out.extend(prefix(torch.cat(inputs[start : start + batch])))
            return out

        seconds, out = best_of(repeats, run)
        per_track = seconds / len(inputs)
        base = base or per_track
        delta = max(float(np.abs(a - b).max()) for a, b in zip(out, reference, strict=True))
        print(f"| {name} | {per_track:.3f} | {base / per_track:.2f}× | {delta:.1e} |", flush=True)


def part_ranking(recommender, catalogue, ids: list[str], repeats: int) -> None:
    waveforms = [catalogue.load_audio(t) for t in ids]
    whole = score_waveforms(recommender.model, waveforms)

    def chunk_by_chunk(store: FeatureStore) -> np.ndarray:
        """Logits of ``ids`` as ``rank_tracks`` scores them: chunk by chunk, each chunk's audio read."""
        logits = []
        for start in range(0, len(ids), RANK_CHUNK):
            chunk = [catalogue.load_audio(t) for t in ids[start : start + RANK_CHUNK]]
            logits.extend(track_logits(recommender, chunk, store=store))
        return np.array(logits)

    def cold(runtime: str) -> Callable[[], np.ndarray]:
        def run() -> np.ndarray:
            with tempfile.TemporaryDirectory() as cache:
                depth = recommender.frozen_blocks
                return chunk_by_chunk(FeatureStore(recommender.model, depth, Path(cache), runtime))

        return run

    def before() -> np.ndarray:
        with tempfile.TemporaryDirectory() as cache:
            ranking = rank_tracks(recommender, catalogue, ids, cache_dir=Path(cache), progress=False,
                                  feature_cache_max_tracks=0)  # fmt: skip
            logit_of = {r.track_id: r.logit for r in ranking.tracks}
            return np.array([logit_of[t] for t in ids])

    with tempfile.TemporaryDirectory() as features:
        warm_store = FeatureStore(recommender.model, recommender.frozen_blocks, Path(features))
        warm_store.features(waveforms)

        rows = {
            "whole model per track (before the feature cache)": before,
            "frozen blocks cached, computed by PyTorch": cold("torch"),
            "frozen blocks cached, computed by ONNX Runtime (now)": cold("auto"),
            "frozen blocks already cached (after make demo)": lambda: chunk_by_chunk(warm_store),
        }
        print(f"\n| ranking {len(ids)} tracks, empty score cache | s / track | speed-up | max abs Δ logit |")
        print("|---|---|---|---|")
        base = None
        for name, run in rows.items():
            seconds, logits = best_of(repeats, run)
            per_track = seconds / len(ids)
            base = base or per_track
            delta = float(np.abs(np.asarray(logits) - whole).max())
            print(f"| {name} | {per_track:.3f} | {base / per_track:.2f}× | {delta:.1e} |", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--user", default="marko", help="whose model ranks (marko)")
    parser.add_argument("--tracks", type=int, default=24, help="tracks of the built-in catalogue (24)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each variant; the best counts (2)")
    args = parser.parse_args()
    recommender = load_checkpoint(find_model(args.user))
    if not recommender.frozen_blocks:
        print(f"{args.user}'s model has no frozen blocks; nothing to compare", file=sys.stderr)
        return 1
    catalogue = open_catalogue("builtin")
    ids = catalogue.ids[: args.tracks]
    print(f"CPU: {cpu_name()}; {torch.get_num_threads()} PyTorch threads; {args.user}'s model "
          f"(frozen blocks: {recommender.frozen_blocks}); {len(ids)} tracks of {catalogue.name}")  # fmt: skip
    waveforms = [catalogue.load_audio(t) for t in ids]
    part_prefix(recommender.model, recommender.frozen_blocks, waveforms, args.repeats)
    part_ranking(recommender, catalogue, ids, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
