"""The shared model's training step on a CPU: fp32 against bf16 autocast, side by side.

``python recsys/pretrain.py`` spends nearly all its time in training steps: random 1 s crops of the
catalogue (half of them remixed from their stems) forward and backward through the FCN, then an Adam
step. This times the real step (:meth:`recsys.pretraining.PretrainRun.train_step` on
:func:`recsys.pretraining.training_batch`) in both precisions on the same batches, the two
precisions alternating round by round so that both see the same load on the machine, and the making
of the batches alone. It prints the CPU and its bf16 instructions (AVX512-BF16, AMX), the median
seconds per step of each precision and their ratio: the ratio says whether ``precision=bf16`` pays
on this CPU.

    python benchmarks/pretrain_bench.py                  # 40 tracks, 3 rounds of 40 steps each
    python benchmarks/pretrain_bench.py --steps 80 --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.page_load_bench import cpu_name
from lemons.interactions import stable_seed
from recsys.data import load_dataset, load_waveforms
from recsys.pretrain import load_stem_data
from recsys.pretraining import PretrainConfig, PretrainRun, catalogue_targets, training_batch

PRECISIONS = ("fp32", "bf16")


def bf16_instructions() -> str:
    """The CPU's bf16 instruction sets, as /proc/cpuinfo names them, or ``none``."""
    flags: set[str] = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    found = sorted(f for f in flags if "bf16" in f)
    return ", ".join(found) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tracks", type=int, default=40, help="catalogue tracks to draw crops from")
    parser.add_argument("--steps", type=int, default=40, help="timed steps per precision and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each precision once per round")
    args = parser.parse_args()

    catalogue = load_dataset("builtin").catalogue
    tracks = catalogue.tracks[: args.tracks]
    ids = [t.id for t in tracks]
    stems = load_stem_data(catalogue, ids, keep_stems=True, workers=2, progress=False)
    targets, values = catalogue_targets(tracks, stems.energies)
    value_tensor = torch.from_numpy(values)
    audio = load_waveforms(catalogue, ids, 2, False, desc="load")
    kinds = [t.kind for t in targets]
    device = torch.device("cpu")
    runs = {
        p: PretrainRun(PretrainConfig(precision=p, share_weight=4.0), len(targets), device, "bench")
        for p in PRECISIONS
    }
    config = runs["fp32"].config  # the batches' settings, the same in both precisions
    print(
        f"CPU: {cpu_name()} (bf16 instructions: {bf16_instructions()}); torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; {len(tracks)} tracks, {len(targets)} targets, "
        f"batch {config.batch_size} × {config.input_length} samples"
    )

    per_step: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    batch_seconds: list[float] = []
    for round_index in range(args.rounds + 1):  # round 0 warms up and is not counted
        rng = np.random.default_rng(stable_seed("pretrain-bench", round_index))
        started = time.perf_counter()
        batches = [training_batch(audio, value_tensor, stems, kinds, config, rng) for _ in range(args.steps)]
        made = (time.perf_counter() - started) / args.steps
        order = PRECISIONS if round_index % 2 else PRECISIONS[::-1]
        for precision in order:
            started = time.perf_counter()
            for batch, batch_values in batches:
                runs[precision].train_step(batch, batch_values, kinds)
            seconds = (time.perf_counter() - started) / args.steps
            if round_index:
                per_step[precision].append(seconds)
        if round_index:
            batch_seconds.append(made)

    median = {p: statistics.median(per_step[p]) for p in PRECISIONS}
    print()
    print("| part | s per step (median of rounds) | rounds |")
    print("|---|---|---|")
    for precision in PRECISIONS:
        rounds = " ".join(f"{s:.3f}" for s in per_step[precision])
        print(f"| training step, {precision} | {median[precision]:.3f} | {rounds} |")
    print(
        f"| making the batch (in both) | {statistics.median(batch_seconds):.4f} | "
        + " ".join(f"{s:.4f}" for s in batch_seconds)
        + " |"
    )
    print()
    print(f"bf16 / fp32: {median['fp32'] / median['bf16']:.2f}× the steps per second")


if __name__ == "__main__":
    main()
