"""``lemons experiments``: the studies of the explanations, each writing a CSV, figures and a summary."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np

from explanations.audiolime.designs import DESIGNS
from explanations.audiolime.factorization import EXPLANATION_TYPES
from explanations.audiolime.segmenters import SEGMENTERS
from explanations.audiolime.separation import SEPARATORS, SPLEETER_MODELS
from lemons.catalogue import open_catalogue
from lemons.catalogue.registry import dataset_names
from lemons.cli.options import (
    Commands,
    add_perturbation_arguments,
    add_question_argument,
    add_separator_argument,
    add_study_arguments,
    described,
    print_written,
    separators_help,
    study_options,
)
from lemons.personas import DEMO_PERSONAS


def cmd_experiments_veracity(args: argparse.Namespace) -> int:
    """Do the planted-taste personas' explanations name their planted source?"""
    from explanations.studies.veracity import veracity_study

    summary = veracity_study(
        args.users, args.types, args.separators, open_catalogue("builtin"), Path(args.out),
        n_tracks=args.n_tracks, n_samples=args.n_samples, seed=args.seed, **study_options(args),
    )  # fmt: skip
    for s in summary:
        rates = f"Top-1 {s['top1_rate']:.0%}, Top-3 {s['top3_rate']:.0%}" if s["tracks"] else s["note"]
        print(f"{s['user']} ({s['planted']}), {s['type']}, {s['separator']}: {rates}")
    print_written(args.out, "veracity.csv, veracity.png, summary.md")
    return 0


def cmd_experiments_stability(args: argparse.Namespace) -> int:
    """U_n of each user's test tracks for each N_s."""
    from explanations.studies.stability import stability_study
    from recsys.data import load_dataset

    rows = stability_study(
        args.users, load_dataset(args.dataset), Path(args.out),
        kind=args.type, n_tracks=args.n_tracks, sample_sizes=tuple(args.sample_sizes), n_repeats=args.repeats,
        k=args.k, seed=args.seed, question=args.label, separator=args.separator, **study_options(args),
    )  # fmt: skip
    for n_samples in args.sample_sizes:
        runs = [r for r in rows if r.n_samples == n_samples]
        by_absolute = np.array([r.unique for r in runs])
        by_positive = np.array([r.unique_positive for r in runs])
        print(
            f"N_s {n_samples}: mean U_n {by_absolute.mean():.2f} (median {np.median(by_absolute):g}) by "
            f"absolute weight, {by_positive.mean():.2f} (median {np.median(by_positive):g}) by positive "
            f"weight, over {len(runs)} tracks"
        )
    print_written(args.out, "stability.csv, stability.png, stability-users.png, summary.md")
    return 0


def cmd_experiments_sample_efficiency(args: argparse.Namespace) -> int:
    """U_n and distance to a reference fit of each perturbation design, per N_s."""
    from explanations.studies.sample_efficiency import OFFER_RULE, sample_efficiency_study
    from recsys.data import load_dataset

    rows = sample_efficiency_study(
        args.users, load_dataset(args.dataset), Path(args.out),
        kind=args.type, n_tracks=args.n_tracks, designs=args.designs, sample_sizes=tuple(args.sample_sizes),
        reference_samples=args.reference_samples, n_repeats=args.repeats, k=args.k, seed=args.seed,
        question=args.label, separator=args.separator, **study_options(args),
    )  # fmt: skip
    means = {}
    for design in args.designs:
        for n_samples in args.sample_sizes:
            runs = [r for r in rows if r.design == design and r.n_samples == n_samples]
            unique = np.array([r.unique for r in runs])
            means[design, n_samples] = unique.mean()
            print(
                f"{design}, N_s {n_samples}: mean U_n {unique.mean():.2f} (median {np.median(unique):g}) by "
                f"absolute weight, distance to the reference {np.mean([r.distance for r in runs]):.3f}, "
                f"over {len(runs)} tracks"
            )
    fewer, more = OFFER_RULE
    if ("uniform", more) in means:
        for design in args.designs:
            if design != "uniform" and (design, fewer) in means:
                stable = means[design, fewer] <= means["uniform", more]
                print(
                    f"{design} at N_s {fewer} is {'' if stable else 'not '}as stable as uniform at {more} "
                    f"on this run ({means[design, fewer]:.2f} vs {means['uniform', more]:.2f})"
                )
    print_written(args.out, "sample-efficiency.csv, sample-efficiency.png, summary.md")
    return 0


def cmd_experiments_faithfulness(args: argparse.Namespace) -> int:
    """Keep and deletion curves of audioLIME, SLIME and random rankings of components."""
    from explanations.studies.faithfulness import METHODS, faithfulness_study

    rows = faithfulness_study(
        args.users, open_catalogue("builtin"), Path(args.out),
        kinds=tuple(args.types), n_tracks=args.n_tracks, n_samples=args.n_samples, seed=args.seed,
        n_random=args.random, k_max=args.k_max, separator=args.separator, **study_options(args),
    )  # fmt: skip
    for kind in args.types:
        for method in METHODS:
            kept = [r.kept for r in rows if r.kind == kind and r.method == method and r.k == 1]
            if kept:
                print(
                    f"{kind}, {method}: top-1 alone keeps {sum(kept) / len(kept):.0%} of the recommendations"
                )
    print_written(args.out, "faithfulness.csv, faithfulness-<type>.png, summary.md")
    return 0


def cmd_experiments_separation(args: argparse.Namespace) -> int:
    """SDR of each installed Spleeter model against the built-in catalogue's true stems."""
    from explanations.studies.separation_quality import separation_study

    summary = separation_study(
        open_catalogue("builtin"), Path(args.out), models=args.models, n_tracks=args.n_tracks,
        **study_options(args, device=False),
    )  # fmt: skip
    for row in summary:
        print(
            f"{row['model']} {row['source']}: median SDR {row['median_sdr']:.1f} dB "
            f"over {row['tracks']} tracks"
        )
    print_written(args.out, "separation.csv, separation.png, summary.md")
    return 0


def cmd_experiments_segmentation(args: argparse.Namespace) -> int:
    """Boundary F-measures of the segmenters against the true structure; what time explanations gain."""
    from explanations.studies.segmentation import segmentation_study

    boundaries, explained = segmentation_study(
        args.users, open_catalogue("builtin"), Path(args.out),
        segmenters=args.segmenters, n_segments=args.segments, per_genre=args.per_genre,
        n_tracks=args.n_tracks, n_samples=args.n_samples, n_repeats=args.repeats, k=args.k, seed=args.seed,
        **study_options(args),
    )  # fmt: skip
    for name in args.segmenters:
        mine = [r for r in boundaries if r.segmenter == name]
        runs = [r for r in explained if r.segmenter == name]
        print(
            f"{name}: section boundaries F {np.mean([r.f_05 for r in mine]):.2f} at 0.5 s, "
            f"{np.mean([r.f_3 for r in mine]):.2f} at 3 s, "
            f"{np.mean([r.on_bars for r in mine]):.0%} on bar lines"
            + (
                f"; explanations: fidelity {np.mean([r.fidelity for r in runs]):.2f}, "
                f"mean U_n {np.mean([r.unique for r in runs]):.2f}"
                if runs
                else ""
            )
        )
    print_written(args.out, "segmentation.csv, segmentation.png, summary.md")
    return 0


def add_study(
    experiments: Commands, name: str, help_text: str, func: Callable, users: tuple[str, ...] | None = None
) -> argparse.ArgumentParser:
    """A study's subcommand with the options every study has: ``--users`` (when it studies users;
    default ``users``), ``--out``, ``--device`` (when it runs the recommender) and ``--quiet``."""
    sub = experiments.add_parser(name, help=help_text)
    if users is not None:
        sub.add_argument("--users", nargs="+", default=list(users))
    add_study_arguments(sub, name, device=users is not None)
    sub.set_defaults(func=func)
    return sub


def add_explained_tracks(sub: argparse.ArgumentParser, n_tracks: int) -> None:
    """``--n-tracks`` of a study that explains each user's top-ranked tracks, and how it samples."""
    sub.add_argument(
        "--n-tracks", type=int, default=n_tracks, help=f"top-ranked tracks explained per user ({n_tracks})"
    )
    add_perturbation_arguments(sub)


def add_veracity(experiments: Commands) -> None:
    """Add ``experiments veracity``."""
    sub = add_study(
        experiments, "veracity", "do explanations of planted-taste personas point at their planted source?",
        cmd_experiments_veracity, users=("clara", "ringo"),
    )  # fmt: skip
    with_sources = tuple(kind.name for kind in EXPLANATION_TYPES if kind.needs_sources)
    sub.add_argument("--types", nargs="+", default=list(with_sources), choices=with_sources)
    sub.add_argument(
        "--separators", nargs="+", default=["reference", "spleeter:2stems"], choices=SEPARATORS.names(),
        help=separators_help(),
    )  # fmt: skip
    add_explained_tracks(sub, 10)


def add_repeated_explanations(sub: argparse.ArgumentParser) -> None:
    """The options of a study that explains each user's test tracks again and again, per N_s."""
    sub.add_argument("--dataset", default="builtin", choices=dataset_names())
    kinds = EXPLANATION_TYPES.names()
    sub.add_argument("--type", default="time+source", choices=kinds, help="explanation type (time+source)")
    sub.add_argument("--n-tracks", type=int, default=1, help="test tracks per user (1; SPEC: 50)")
    sub.add_argument(
        "--sample-sizes", type=int, nargs="+", default=[512, 1024, 2048, 4096], help="N_s values"
    )
    sub.add_argument(
        "--repeats", type=int, default=5, help="explanations per N_s, each on a neighbourhood of its own (5)"
    )
    sub.add_argument("--k", type=int, default=3, help="Top-k compared across runs (3)")
    sub.add_argument(
        "--seed", type=int, default=0, help="the study's seed; each (N_s, repeat) derives its own (0)"
    )
    add_question_argument(sub)
    add_separator_argument(sub)


def add_stability(experiments: Commands) -> None:
    """Add ``experiments stability``."""
    sub = add_study(
        experiments, "stability", "how stable are explanations across seeds, per N_s? (U_n)",
        cmd_experiments_stability, users=DEMO_PERSONAS,
    )  # fmt: skip
    add_repeated_explanations(sub)


def add_sample_efficiency(experiments: Commands) -> None:
    """Add ``experiments sample-efficiency``.

    The designs other than SPEC's are chosen here only: ``lemons explain`` and the page draw SPEC's
    uniform masks until this study shows a design that at N_s = 1024 is as stable as uniform at 2048.
    """
    sub = add_study(
        experiments, "sample-efficiency",
        "perturbation designs compared: U_n and distance to a large-N_s fit, per N_s",
        cmd_experiments_sample_efficiency, users=DEMO_PERSONAS,
    )  # fmt: skip
    add_repeated_explanations(sub)
    sub.add_argument(
        "--designs", nargs="+", default=list(DESIGNS.names()), choices=DESIGNS.names(),
        help="perturbation designs compared: "
        + described(DESIGNS.names(), {d.name: d.description for d in DESIGNS}),
    )  # fmt: skip
    sub.add_argument(
        "--reference-samples", type=int, default=16384,
        help="N_s of the reference fit (SPEC's uniform design) the weights are compared with (16384)",
    )  # fmt: skip


def add_faithfulness(experiments: Commands) -> None:
    """Add ``experiments faithfulness``."""
    sub = add_study(
        experiments, "faithfulness",
        "do the top components keep the recommendation? audioLIME vs SLIME vs random",
        cmd_experiments_faithfulness, users=DEMO_PERSONAS,
    )  # fmt: skip
    sub.add_argument("--types", nargs="+", default=["time", "source"], choices=EXPLANATION_TYPES.names())
    add_explained_tracks(sub, 5)
    sub.add_argument("--random", type=int, default=5, help="random rankings drawn per track (5)")
    sub.add_argument("--k-max", type=int, default=5, help="largest k (5)")
    add_separator_argument(sub)


def add_separation(experiments: Commands) -> None:
    """Add ``experiments separation``."""
    sub = add_study(
        experiments, "separation", "SDR of each installed Spleeter model against true stems",
        cmd_experiments_separation,
    )  # fmt: skip
    sub.add_argument("--models", nargs="+", choices=tuple(SPLEETER_MODELS), help="default: all installed")
    sub.add_argument("--n-tracks", type=int, default=10, help="catalogue tracks, spread over genres (10)")


def add_segmentation(experiments: Commands) -> None:
    """Add ``experiments segmentation``."""
    sub = add_study(
        experiments, "segmentation",
        "segmenters against the songs' true structure, and the time explanations they give",
        cmd_experiments_segmentation, users=DEMO_PERSONAS,
    )  # fmt: skip
    sub.add_argument(
        "--segmenters", nargs="+", default=list(SEGMENTERS.names()), choices=SEGMENTERS.names(),
        help="segmenters compared: "
        + described(SEGMENTERS.names(), {s.name: s.description for s in SEGMENTERS}),
    )  # fmt: skip
    sub.add_argument("--segments", type=int, default=5, help="time segments (5; at most 5 sections)")
    sub.add_argument(
        "--per-genre", type=int, default=10, help="tracks per genre whose boundaries are scored (10)"
    )
    add_explained_tracks(sub, 3)
    sub.add_argument("--repeats", type=int, default=5, help="explanations per track and segmenter (5)")
    sub.add_argument("--k", type=int, default=3, help="Top-k compared across runs (3)")


def add_commands(commands: Commands) -> None:
    """Add the ``experiments`` studies: ``veracity``, ``stability``, ``sample-efficiency``,
    ``faithfulness``, ``separation`` and ``segmentation``."""
    experiments = commands.add_parser("experiments", help="studies of the explanations").add_subparsers(
        dest="experiment", required=True, metavar="STUDY"
    )
    for add in (
        add_veracity, add_stability, add_sample_efficiency, add_faithfulness, add_separation, add_segmentation
    ):  # fmt: skip
        add(experiments)
