"""The ``lemons`` command. ``lemons --help`` lists the commands, ``lemons COMMAND --help`` their options.

The command line sits on top of everything: one module per command group adds its subcommands
(:data:`COMMAND_GROUPS`), and the choices it offers (catalogues, separators, explanation types) are
read from their registries. A command imports the recommender and the explanations when it runs, so
``lemons --help`` and the data commands answer without loading PyTorch.

Errors LEMONS raises on purpose are printed as one line (``error: ...``) with exit status 2, and
warnings as ``warning: ...`` lines. ``--verbose`` (before or after the command) also lets native
libraries print their own lines, such as TensorFlow's start-up messages when Spleeter loads.
"""

from __future__ import annotations

import argparse
import sys

from lemons.allocator import keep_freed_memory
from lemons.cli import app, cache, config, data, experiments, explain, personas, precompute, rank, setup
from lemons.console import configured
from lemons.errors import LemonsError

#: The command groups, in the order ``lemons --help`` lists them.
COMMAND_GROUPS = (config, data, personas, rank, explain, precompute, experiments, cache, setup, app)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command: each group of :data:`COMMAND_GROUPS` adds its own."""
    parser = argparse.ArgumentParser(
        prog="lemons", description="LEMONS: listenable explanations for music recommender systems."
    )
    add_verbose(parser, False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.add_commands(commands)
    for sub in _subparsers(commands):
        add_verbose(sub, argparse.SUPPRESS)  # after the command too; it keeps a --verbose given before
    return parser


def add_verbose(parser: argparse.ArgumentParser, default: object) -> None:
    """``--verbose``: also show what native libraries print (TensorFlow's start-up lines)."""
    parser.add_argument(
        "--verbose",
        action="store_true",
        default=default,
        help="also show informational messages and what native libraries print (TensorFlow start-up lines)",
    )


def _subparsers(commands: argparse._SubParsersAction) -> list[argparse.ArgumentParser]:
    """Every command's parser, those of nested commands (``lemons data build``) included."""
    found = []
    for sub in dict.fromkeys(commands.choices.values()):  # aliases map to the same parser
        found.append(sub)
        for action in sub._actions:
            if isinstance(action, argparse._SubParsersAction):
                found.extend(_subparsers(action))
    return found


def main(argv: list[str] | None = None) -> int:
    """Run the command in ``argv`` (default: the process's arguments); returns the exit status."""
    args = build_parser().parse_args(argv)
    keep_freed_memory()
    with configured(verbose=args.verbose):
        try:
            return int(args.func(args))
        except LemonsError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted; run the same command again to resume", file=sys.stderr)
            return 130
