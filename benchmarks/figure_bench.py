"""The page's figures of an explanation: fixed margins against a layout engine, side by side.

The page draws three PNGs for every explanation it shows first (:data:`explanations.page.figures.
PAGE_FIGURES`). They are laid out with fixed margins around the widest label; Matplotlib's layout
engines (``tight`` for the waveform rows, ``constrained`` for the weight grid, as the figures were
drawn before) measure every tick label and draw the figure twice. For one explanation of each type
(N_s 256: the figures do not depend on it) each figure is drawn to a PNG both ways, in turns; the
table gives the median of ``--repeats`` draws and their ratio. The CPU is printed.

    python benchmarks/figure_bench.py
    python benchmarks/figure_bench.py --repeats 15 --user nina
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from matplotlib.figure import Figure

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.page_load_bench import cpu_name
from explanations.audiolime.pipeline import ExplainSettings, TrackExplanation, explain_track
from explanations.page.figures import PAGE_DPI, PAGE_FIGURES, agg_figure, png_bytes, weight_grid_axes
from lemons.catalogue.registry import CATALOGUES
from recsys.checkpoint import find_model, load_checkpoint


def laid_out_by_engine(result: TrackExplanation, name: str) -> Figure:
    """Figure ``name`` as it was drawn before it had fixed margins: the waveform rows laid out by the
    ``tight`` engine, the weight grid by the ``constrained`` one with its colour bar beside it."""
    if name == "weights":
        figure = agg_figure(figsize=(10, 2.6), layout="constrained")
        weight_grid_axes(figure.subplots(), result)
        return figure
    figure = PAGE_FIGURES[name](result)
    figure.set_layout_engine("tight")
    return figure


def draw(result: TrackExplanation, name: str, by_engine: bool) -> float:
    """Seconds to draw figure ``name`` of ``result`` to PNG bytes, by a layout engine or as the page does."""
    started = time.perf_counter()
    png_bytes(laid_out_by_engine(result, name) if by_engine else PAGE_FIGURES[name](result), dpi=PAGE_DPI)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--user", default="elizabeth")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    recommender = load_checkpoint(find_model(args.user), "cpu")
    catalogue = CATALOGUES["builtin"].open()
    track_id = catalogue.ids[0]
    print(
        f"CPU: {cpu_name()}; {args.user}, track {track_id}; "
        f"median of {args.repeats} draws at {PAGE_DPI} dpi\n"
    )
    print("| explanation | figure | layout engine | fixed margins | speed-up |")
    print("|---|---|---|---|---|")
    totals = {"engine": 0.0, "fixed": 0.0}
    with tempfile.TemporaryDirectory() as cache:
        for kind in ("time", "source", "time+source"):
            result = explain_track(
                recommender, catalogue, track_id, ExplainSettings(kind, 256, 0), None, cache_dir=cache
            )
            for name in PAGE_FIGURES:
                draw(result, name, by_engine=False)  # Matplotlib's first use of these artists
                times: dict[str, list[float]] = {"engine": [], "fixed": []}
                for _ in range(args.repeats):
                    times["engine"].append(draw(result, name, by_engine=True))
                    times["fixed"].append(draw(result, name, by_engine=False))
                engine, fixed = (statistics.median(times[k]) for k in ("engine", "fixed"))
                totals["engine"] += engine
                totals["fixed"] += fixed
                print(f"| {kind} | {name} | {engine:.3f} s | {fixed:.3f} s | {engine / fixed:.2f}× |")
    print(
        f"| all | 9 figures | {totals['engine']:.2f} s | {totals['fixed']:.2f} s "
        f"| {totals['engine'] / totals['fixed']:.2f}× |"
    )


if __name__ == "__main__":
    main()
