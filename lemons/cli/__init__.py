"""The ``lemons`` command. ``lemons --help`` lists the commands, ``lemons COMMAND --help`` their options.

The command line sits on top of everything: one module per command group adds its subcommands
(:data:`COMMAND_GROUPS`), and the choices it offers (catalogues, separators, explanation types) are
read from their registries. A command imports the recommender and the explanations when it runs, so
``lemons --help`` and the data commands answer without loading PyTorch.

Errors LEMONS raises on purpose are printed as one line (``error: ...``) with exit status 2.
"""

from __future__ import annotations

import argparse
import sys

from lemons.allocator import keep_freed_memory
from lemons.cli import config, data, experiments, explain, personas, rank, setup
from lemons.errors import LemonsError

#: The command groups, in the order ``lemons --help`` lists them.
COMMAND_GROUPS = (config, data, personas, rank, explain, experiments, setup)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command: each group of :data:`COMMAND_GROUPS` adds its own."""
    parser = argparse.ArgumentParser(
        prog="lemons", description="LEMONS: listenable explanations for music recommender systems."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command in ``argv`` (default: the process's arguments); returns the exit status."""
    args = build_parser().parse_args(argv)
    keep_freed_memory()
    try:
        return int(args.func(args))
    except LemonsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
