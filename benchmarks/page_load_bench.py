"""How the served page holds up under several visitors at once.

``lemons app`` (the page with its modules loaded first) over a built-in catalogue, visited in
headless Chromium (Debian's, as in the browser tests): first one visitor alone, then ``--visitors``
visitors at once (two of them asking for the same explanation), each on a fresh cache. Prints the
seconds of every step (first render, persona, catalogue, explanation) for each visitor, the errors
the page showed (must be 0), and the ratio of the crowd's median to the lone visitor's, measured in
the same run.

    python benchmarks/page_load_bench.py                       # a 44-track catalogue built here
    python benchmarks/page_load_bench.py --catalogue-dir data/catalogue --visitors 5
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lemons.config import get_settings
from lemons.synth.build import build_catalogue
from tests.browser import Plan, Visit, served_page, visitors

STEPS = ("first render", "persona", "catalogue", "explanation")
#: The crowd: two visitors ask for the same explanation, the others for their own.
CROWD = [
    Plan("nina", explanation="Source"),
    Plan("nina", explanation="Source"),
    Plan("elizabeth", explanation="Time"),
    Plan("johnny", catalogue="your held-out test tracks", explanation="Time + Source", n_samples=512),
    Plan("paige", explanation="Source"),
    Plan("marko", explanation="Time"),
    Plan("matteo", explanation="Source"),
    Plan("sandra", explanation="Time"),
]


def cpu_name() -> str:
    """The CPU's model name, as /proc/cpuinfo gives it (else the platform's, where there is none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def run(catalogue_dir: Path, plans: list[Plan], workdir: Path) -> list[Visit]:
    with served_page(catalogue_dir, get_settings().models_dir, workdir / "cache", workdir) as url:
        return visitors(url, plans)


def table(alone: list[Visit], crowd: list[Visit]) -> str:
    lines = [
        "| visitors | visitor | " + " | ".join(STEPS) + " | errors | explained |",
        "|---|---|" + "---|" * len(STEPS) + "---|---|",
    ]
    for label, visits in (("1", alone), (str(len(crowd)), crowd)):
        for visit in visits:
            cells = [f"{visit.seconds[step]:.1f} s" if step in visit.seconds else "–" for step in STEPS]
            kind = f"{visit.plan.explanation}, N_s {visit.plan.n_samples}"
            cached = "cache" if "from the cache" in visit.caption else "computed"
            row = [label, visit.plan.persona, *cells, str(len(visit.failures)), f"{kind} ({cached})"]
            lines.append("| " + " | ".join(row) + " |")
    medians = []
    for step in STEPS:
        lone = alone[0].seconds.get(step)
        many = [visit.seconds[step] for visit in crowd if step in visit.seconds]
        if lone and many:
            medians.append(f"{step} {statistics.median(many) / lone:.1f}×")
    lines.append("")
    lines.append(f"median of {len(crowd)} at once against one alone: " + ", ".join(medians))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--catalogue-dir", type=Path, help="a built-in catalogue (default: 44 tracks built here)"
    )
    parser.add_argument("--visitors", type=int, default=5, help=f"visitors at once (2–{len(CROWD)}; 5)")
    args = parser.parse_args()
    if not 2 <= args.visitors <= len(CROWD):
        parser.error(f"--visitors must be between 2 and {len(CROWD)}")
    with tempfile.TemporaryDirectory(prefix="lemons-load-") as temp:
        temp_dir = Path(temp)
        catalogue_dir = args.catalogue_dir
        if catalogue_dir is None:
            catalogue_dir = temp_dir / "catalogue"
            print("building a 44-track catalogue (10 s tracks)…", flush=True)
            build_catalogue(catalogue_dir, n_tracks=44, seed=7, duration=10.0, workers=2, progress=False)
        alone = run(catalogue_dir, CROWD[:1], temp_dir / "alone")
        crowd = run(catalogue_dir, CROWD[: args.visitors], temp_dir / "crowd")
    print(f"CPU: {cpu_name()}; models: {get_settings().models_dir}")
    print(table(alone, crowd))
    for visit in alone + crowd:
        for failure in visit.failures:
            print(f"{visit.plan.persona}: {failure}", file=sys.stderr)
    return 1 if any(visit.failures for visit in alone + crowd) else 0


if __name__ == "__main__":
    sys.exit(main())
