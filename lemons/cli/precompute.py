"""``lemons precompute``: separations, rankings and explanations computed ahead on Ray, into the caches
``lemons rank``, ``lemons explain`` and the page read."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from explanations.audiolime.factorization import EXPLANATION_TYPES
from explanations.audiolime.separation import SEPARATORS
from lemons.catalogue.registry import catalogue_names
from lemons.cli.options import (
    Commands,
    add_catalogue_arguments,
    add_perturbation_arguments,
    add_question_argument,
    add_quiet,
    add_segment_arguments,
    add_separator_argument,
    separators_help,
)
from lemons.config import get_settings
from lemons.errors import ConfigError
from lemons.personas import PERSONA_NAMES

if TYPE_CHECKING:  # Ray and the recommender are imported when a command runs
    from explanations.precompute import ClusterOptions, Report


def cluster_options(args: argparse.Namespace) -> ClusterOptions:
    """The Ray options of a precompute command."""
    from explanations.precompute import ClusterOptions

    return ClusterOptions(
        address=args.address,
        workers=args.workers,
        cpus_per_worker=args.cpus_per_worker,
        gpus_per_worker=args.num_gpus,
        retries=args.retries,
        verbose=args.verbose,
    )


def users_of(args: argparse.Namespace) -> list[str]:
    """``--users``, or every persona with a published model."""
    if args.users:
        return list(args.users)
    models = get_settings().models_dir
    users = [name for name in PERSONA_NAMES if (models / f"{name}.pt").is_file()]
    if not users:
        raise ConfigError(f"no persona has a published model in {models}; name the users with --users")
    return users


def batch_of(args: argparse.Namespace) -> dict[str, Any]:
    """``--batch`` where it was given (else the job's default)."""
    return {"batch": args.batch} if args.batch else {}


def print_report(report: Report) -> None:
    """A job's summary, then each skipped item with why (on standard error)."""
    print(report.summary())
    for what, reason in report.skipped:
        print(f"skipped {what}: {reason}", file=sys.stderr)


def cmd_precompute_rank(args: argparse.Namespace) -> int:
    """Score the catalogue's tracks for each user into the score cache."""
    from explanations.precompute import precompute_rank

    report = precompute_rank(
        args.catalogue, users_of(args), args.path,
        options=cluster_options(args), progress=not args.quiet, **batch_of(args),
    )  # fmt: skip
    print_report(report)
    return 0


def cmd_precompute_explain(args: argparse.Namespace) -> int:
    """Rank, then explain each user's top tracks for each type into the explanation cache."""
    from explanations.precompute import precompute_explain

    reports = precompute_explain(
        args.catalogue, users_of(args), args.types, args.path,
        top=args.top, n_samples=args.n_samples, seed=args.seed, n_segments=args.segments,
        segmenter=args.segmenter, question=args.label, separator=args.separator,
        options=cluster_options(args), progress=not args.quiet, **batch_of(args),
    )  # fmt: skip
    for report in reports:
        print_report(report)
    return 0


def cmd_precompute_separate(args: argparse.Namespace) -> int:
    """Separate every track of the catalogue into the separation cache."""
    from explanations.precompute import precompute_separate

    report = precompute_separate(
        args.catalogue, args.separator, args.path,
        options=cluster_options(args), progress=not args.quiet, **batch_of(args),
    )  # fmt: skip
    print_report(report)
    return 0


def add_ray_arguments(sub: argparse.ArgumentParser, batch: str) -> None:
    """Where the work runs (a local Ray, or a cluster) and how it is spread."""
    sub.add_argument(
        "--address",
        help="a running Ray cluster (host:port of its head, or ray://host:port); "
        "default: a local Ray started for this run",
    )
    sub.add_argument(
        "--workers",
        type=int,
        help="Ray workers, each loading the models once (default: the num_workers setting on a local "
        "Ray, as many as the cluster's CPUs allow on a cluster)",
    )
    sub.add_argument("--cpus-per-worker", type=float, default=1.0, help="CPUs (threads) per worker (1)")
    sub.add_argument(
        "--num-gpus",
        type=float,
        help="GPUs per worker, a fraction to share one (default: an equal share of the cluster's GPUs, "
        "up to one each; 0 where it has none)",
    )
    sub.add_argument("--retries", type=int, default=3, help="runs of a task whose worker died (3)")
    sub.add_argument("--batch", type=int, help=batch)
    add_quiet(sub)


def add_users_argument(sub: argparse.ArgumentParser) -> None:
    """``--users``: whose recommenders (published models)."""
    sub.add_argument(
        "--users", nargs="+", metavar="USER", help="users (default: every persona with a published model)"
    )


def add_commands(commands: Commands) -> None:
    """Add ``precompute separate``, ``precompute rank`` and ``precompute explain``."""
    precompute = commands.add_parser(
        "precompute", help="compute separations, rankings and explanations ahead, on Ray, into the caches"
    ).add_subparsers(dest="precompute_command", required=True, metavar="JOB")

    sub = precompute.add_parser("separate", help="separate every track of a catalogue into the cache")
    add_catalogue_arguments(sub, catalogue_names(held_out=False))
    sub.add_argument(
        "--separator",
        choices=SEPARATORS.names(),
        help=f"{separators_help()}; default: the best available one whose results are cached",
    )
    add_ray_arguments(sub, "tracks per task (4)")
    sub.set_defaults(func=cmd_precompute_separate)

    sub = precompute.add_parser("rank", help="rank a catalogue for users into the score cache")
    add_users_argument(sub)
    add_catalogue_arguments(sub, catalogue_names())
    add_ray_arguments(sub, "tracks per task (16, as lemons rank scores them)")
    sub.set_defaults(func=cmd_precompute_rank)

    sub = precompute.add_parser(
        "explain", help="rank, then explain each user's top tracks into the explanation cache"
    )
    add_users_argument(sub)
    sub.add_argument(
        "--types",
        nargs="+",
        choices=EXPLANATION_TYPES.names(),
        help="explanation types (default: every one)",
    )
    sub.add_argument("--top", type=int, default=3, help="explain each user's top TOP recommendations (3)")
    add_catalogue_arguments(sub, catalogue_names())
    add_separator_argument(sub)
    add_question_argument(sub)
    add_perturbation_arguments(sub)
    add_segment_arguments(sub)
    add_ray_arguments(sub, "tracks per task of the explanations (1)")
    sub.set_defaults(func=cmd_precompute_explain)
