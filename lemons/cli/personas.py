"""``lemons personas``: the demo's personas, their profiles and avatars."""

from __future__ import annotations

import argparse
from pathlib import Path

from lemons.catalogue.builtin import BuiltinCatalogue
from lemons.cli.options import Commands
from lemons.config import get_settings
from lemons.io import atomic_open
from lemons.personas import PERSONAS, avatar_png, get_persona, history_of, profile


def cmd_personas_list(args: argparse.Namespace) -> int:
    """One line per persona: name, taste, planted source."""
    for persona in PERSONAS:
        planted = f"  [planted: {persona.planted}]" if persona.planted else ""
        print(f"{persona.name:10s} {persona.short}{planted}")
    return 0


def cmd_personas_show(args: argparse.Namespace) -> int:
    """A persona's listening history on the built-in catalogue: counts, genres, top tracks."""
    persona = get_persona(args.name)
    catalogue = BuiltinCatalogue(get_settings().catalogue_dir)
    summary = profile(persona, catalogue, history_of(persona, catalogue.triplets()))
    print(f"{persona.name}: {persona.description}")
    print(f"listened to {summary.n_tracks} tracks for a total of {summary.n_events} listening events")
    print("top genres: " + ", ".join(f"{g} ({c})" for g, c in summary.genre_counts[:5]))
    print(f"top {args.top} tracks by playcount:")
    for track, count in summary.top_tracks[: args.top]:
        print(f"  {count:4d}  {track.id}  {track.artist} - {track.title}  [{track.genre}]")
    return 0


def cmd_personas_avatars(args: argparse.Namespace) -> int:
    """Write every persona's avatar as ``<out>/<name>.png``."""
    out = Path(args.out)
    for persona in PERSONAS:
        with atomic_open(out / f"{persona.name}.png", "wb") as handle:
            handle.write(avatar_png(persona))
    print(f"{len(PERSONAS)} avatars written to {out}")
    return 0


def add_commands(commands: Commands) -> None:
    """Add ``personas list``, ``personas show`` and ``personas avatars``."""
    personas = commands.add_parser("personas", help="the demo's personas").add_subparsers(
        dest="personas_command", required=True, metavar="ACTION"
    )
    personas.add_parser("list", help="list the personas").set_defaults(func=cmd_personas_list)
    sub = personas.add_parser("show", help="a persona's profile on the built-in catalogue")
    sub.add_argument("name")
    sub.add_argument("--top", type=int, default=10, help="how many top tracks to list (10)")
    sub.set_defaults(func=cmd_personas_show)
    sub = personas.add_parser("avatars", help="write the personas' avatar pictures (PNG)")
    sub.add_argument("--out", required=True)
    sub.set_defaults(func=cmd_personas_avatars)
