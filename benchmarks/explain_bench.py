"""Fast explanation engine against the naive audioLIME pipeline, side by side on one track.

The naive pipeline is the original app's: for every perturbation, mix its waveform from the
components and score mel + FCN in batches of 5. The engine is
:class:`explanations.audiolime.engine.FCNScorer`.
For each explanation type both score the same perturbations; the script checks that every relevance
agrees (max abs difference ≤ :data:`TOLERANCE`) and that the fitted explanations agree, and prints wall times,
the speed-up, and the FCN's FLOP rate as a fraction of this machine's measured float32 matmul peak.

    python benchmarks/explain_bench.py                      # ringo's top test track, N_s = 2048
    python benchmarks/explain_bench.py --quick              # N_s = 256, a minute or two
    python benchmarks/explain_bench.py --naive-rows 256     # time the naive pipeline on 256 rows only
    python benchmarks/explain_bench.py --device cuda

With ``--naive-rows`` the naive pipeline scores only the first rows; its time for all N_s rows is
extrapolated (its cost is linear in the rows: every row is its own forward pass) and marked ``*``.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from explanations.audiolime.engine import FCNScorer
from explanations.audiolime.explainer import fit_surrogate, sample_perturbations
from explanations.audiolime.factorization import EXPLANATION_TYPES, factorize
from explanations.audiolime.scoring import WaveformScorer, recommender_relevance
from explanations.audiolime.separation import get_separator
from lemons.allocator import keep_freed_memory
from lemons.catalogue import open_catalogue
from recsys.checkpoint import find_model, load_checkpoint
from recsys.data import load_dataset
from recsys.inference import resolve_device
from recsys.model import FCN

NAIVE_BATCH = 5  # the original app scored perturbations five at a time


#: How far the engine's relevances may be from the naive pipeline's. Both are float32 computations of
#: the same value, and each can be ~2e-5 from a float64 computation of it (measured: ringo's model on
#: LM00806, the naive pipeline 2.0e-5 off, the engine 1.3e-5), so 1e-5 between them is not float32's
#: to give.
TOLERANCE = 5e-5


def fcn_flops(model: FCN, n_samples: int) -> float:
    """Multiply-adds ×2 of the FCN's convolutions and dense layer for one input of ``n_samples``."""
    frames = n_samples // model.args.hop_length + 1
    rows, flops = model.args.n_mels, 0.0
    for block in model.blocks:
        conv = block[0]
        flops += 2 * conv.in_channels * conv.out_channels * 9 * rows * frames
        rows, frames = rows // 2, frames // 2
    return flops + 2 * model.dense.in_features


def matmul_peak(device: torch.device, size: int = 2048, repeats: int = 10) -> float:
    """Measured float32 matmul FLOP/s on ``device``."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    for _ in range(2):
        a @ b
    synchronize(device)
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize(device)
    return 2 * size**3 * repeats / (time.perf_counter() - started)


def synchronize(device: torch.device) -> None:
    """Wait for the GPU's queued work (timings would miss it)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(function, *args):
    """``(function(*args), seconds it took)``."""
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started


def main() -> int:
    """Run the benchmark; exit status 1 when a relevance or an explanation disagrees."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--user", default="ringo")
    parser.add_argument("--track", help="track id (default: the user's most relevant test track)")
    kinds = EXPLANATION_TYPES.names()
    parser.add_argument("--types", nargs="+", default=list(kinds), choices=kinds)
    parser.add_argument("--n-samples", type=int, default=2048)
    parser.add_argument("--naive-rows", type=int, help="score only this many rows with the naive pipeline")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="N_s = 256")
    args = parser.parse_args()
    keep_freed_memory()
    n_samples = 256 if args.quick else args.n_samples
    device = resolve_device(args.device)

    recommender = load_checkpoint(find_model(args.user), device)
    model = recommender.model
    catalogue = open_catalogue("builtin", None)
    if args.track is None:
        test = load_dataset("builtin").user(args.user).ids("test")
        relevance = recommender_relevance(model, device)
        scores = [float(relevance(catalogue.load_audio(t)[None])[0]) for t in test]
        args.track = test[int(np.argmax(scores))]
    audio = catalogue.load_audio(args.track)
    separation = get_separator(None, catalogue, args.track).separation(audio)
    peak = matmul_peak(device)
    print(
        f"{args.user} / {args.track}: {len(audio) / 16000:.1f} s, N_s = {n_samples}, device {device}, "
        f"{torch.get_num_threads()} threads, separator {separation.separator}, "
        f"float32 matmul peak {peak / 1e9:.0f} GFLOP/s"
    )
    header = ("type", "naive s", "engine s", "speed-up", "max |Δp|", "FCN GFLOP/s", "of peak")
    print(f"{header[0]:12} " + " ".join(f"{h:>9}" for h in header[1:]))
    failed = False
    for kind in args.types:
        factorization = factorize(kind, audio, separation)
        masks = sample_perturbations(factorization.n_components, n_samples, args.seed)
        engine = FCNScorer(model, factorization, device)
        fast, engine_s = timed(engine, masks)
        rows = min(args.naive_rows or n_samples, n_samples)
        naive_scorer = WaveformScorer(
            factorization, recommender_relevance(model, device), batch_size=NAIVE_BATCH, deduplicate=False
        )
        naive, naive_s = timed(naive_scorer, masks[:rows])
        naive_total = naive_s * n_samples / rows
        difference = float(np.max(np.abs(fast[:rows] - naive)))
        flop_rate = fcn_flops(model, factorization.n_samples) * rows / naive_s
        same = True
        if rows == n_samples:
            label = int(fast[0] >= 0.5)
            weights_fast = fit_surrogate(masks, fast, label, args.seed).weights
            weights_naive = fit_surrogate(masks, naive, label, args.seed).weights
            same = np.argsort(-weights_fast)[:3].tolist() == np.argsort(-weights_naive)[:3].tolist()
            same = same and bool(np.allclose(weights_fast, weights_naive, atol=1e-3))
        ok = difference <= TOLERANCE and same
        failed |= not ok
        print(
            f"{kind:12} {naive_total:9.1f}{'*' if rows < n_samples else ' '}{engine_s:9.1f} "
            f"{naive_total / engine_s:8.1f}x {difference:9.1e} {flop_rate / 1e9:12.1f} "
            f"{flop_rate / peak:7.0%}" + ("" if ok else "  MISMATCH")
        )
    if args.naive_rows:
        print("* extrapolated from the naive pipeline's time on the first", args.naive_rows, "rows")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
