"""``lemons config``: the effective settings and where each comes from."""

from __future__ import annotations

import argparse

from lemons.cli.options import Commands
from lemons.config import get_settings


def cmd_config(args: argparse.Namespace) -> int:
    """Print every setting, its value and its source (default, config.py or environment)."""
    settings = get_settings()
    for name, value in settings.as_dict().items():
        print(f"{name:20s} {value!s:50s} ({settings.sources.get(name, 'default')})")
    return 0


def add_commands(commands: Commands) -> None:
    """Add ``config``."""
    sub = commands.add_parser("config", help="print the effective settings and where each comes from")
    sub.set_defaults(func=cmd_config)
