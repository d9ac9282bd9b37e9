"""``lemons rank``: a catalogue ranked for a user by the user's recommender."""

from __future__ import annotations

import argparse
import sys

from lemons.catalogue.registry import catalogue_names
from lemons.cli.options import (
    Commands,
    add_catalogue_arguments,
    add_recommender_arguments,
    command_device,
    load_recommender,
)
from lemons.config import get_settings


def cmd_rank(args: argparse.Namespace) -> int:
    """Print the user's top tracks of the catalogue, leaving their listening history out unless asked."""
    from recsys.candidates import candidates
    from recsys.ranking import rank_tracks

    recommender = load_recommender(args)
    found = candidates(args.catalogue, recommender, args.user, args.path)
    warning = found.stale_warning(recommender, args.user)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    ranking = rank_tracks(
        recommender,
        found.catalogue,
        found.track_ids,
        device=command_device(args),
        cache_dir=get_settings().cache_dir,
        progress=not args.quiet,
        history=found.history,
        include_history=args.include_history,
    )
    for track_id, reason in ranking.skipped:
        print(f"skipped {track_id}: {reason}", file=sys.stderr)
    print(f"top {min(args.top, len(ranking.tracks))} of {len(ranking.tracks)} tracks for {args.user}:")
    for rank, item in enumerate(ranking.top(args.top), 1):
        track = found.catalogue[item.track_id]
        mark = "  (in the listening history)" if item.track_id in ranking.listened else ""
        genre = f"  [{track.genre}]" if track.genre else ""
        print(f"{rank:3d}. {item.relevance:.3f}  {track.id}  {track.label}{genre}{mark}")
    if ranking.n_excluded:
        print(
            f"({ranking.n_excluded} tracks of {args.user}'s listening history left out; "
            "--include-history keeps them)"
        )
    return 0


def add_commands(commands: Commands) -> None:
    """Add ``rank``."""
    sub = commands.add_parser("rank", help="rank a catalogue for a user with the user's recommender")
    add_recommender_arguments(sub)
    add_catalogue_arguments(sub, catalogue_names())
    sub.add_argument(
        "--include-history",
        action="store_true",
        help="also rank the tracks the user has already listened to (marked as such)",
    )
    sub.add_argument("--top", type=int, default=10, help="how many tracks to list (10)")
    sub.set_defaults(func=cmd_rank)
