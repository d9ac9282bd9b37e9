"""``lemons data``: build, validate and report on the built-in catalogue; select MSD users."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from lemons.catalogue.builtin import BuiltinCatalogue, validate_catalogue
from lemons.cli.options import Commands, add_quiet
from lemons.config import get_settings
from lemons.synth.build import DEFAULT_DURATION, DEFAULT_TRACKS, build_catalogue, non_default_note


def catalogue_dir(args: argparse.Namespace) -> Path:
    """The catalogue folder given on the command line, else the ``catalogue_dir`` setting."""
    return Path(args.dir) if getattr(args, "dir", None) else get_settings().catalogue_dir


def cmd_data_build(args: argparse.Namespace) -> int:
    """Generate (or resume) the built-in catalogue; exit status 1 if a track failed."""
    out = Path(args.out) if args.out else get_settings().catalogue_dir
    workers = args.workers if args.workers is not None else max(1, get_settings().num_workers)
    report = build_catalogue(
        out,
        n_tracks=args.n_tracks,
        seed=args.seed,
        duration=args.duration,
        workers=workers,
        progress=not args.quiet,
    )
    print(f"catalogue: {report.root}")
    print(
        f"tracks: {report.n_tracks} ({report.n_built} built now, {report.n_skipped_done} already done, "
        f"{len(report.failed)} failed)"
    )
    print(f"time: {report.seconds:.1f} s, size on disk: {report.bytes_on_disk / 1e6:.1f} MB")
    note = non_default_note(args.n_tracks, args.seed, args.duration)
    if note:
        print(note)
    return 1 if report.failed else 0


def cmd_data_validate(args: argparse.Namespace) -> int:
    """Re-check a catalogue's checksums and that every mix is the sum of its stems."""
    root = catalogue_dir(args)
    report = validate_catalogue(root, progress=not args.quiet)
    for problem in report.problems:
        print(f"problem: {problem}")
    status = "OK" if report.ok else f"FAILED ({len(report.problems)} problems)"
    print(f"{root}: {report.n_tracks} tracks, {report.n_files} files checked: {status}")
    return 0 if report.ok else 1


def cmd_data_report(args: argparse.Namespace) -> int:
    """Size, genres and genre separability of a catalogue."""
    from lemons.catalogue.separability import genre_separability

    root = catalogue_dir(args)
    catalogue = BuiltinCatalogue(root)
    size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    print(f"{root}: {len(catalogue)} tracks, {size / 1e6:.1f} MB on disk")
    for genre, count in sorted(Counter(t.genre for t in catalogue).items()):
        print(f"  {genre:18s} {count}")
    result = genre_separability(catalogue, progress=not args.quiet)
    print(
        f"genre separability: {100 * result['accuracy']:.1f} % ± {100 * result['std']:.1f} "
        f"({result['folds']}-fold logistic regression on MFCC statistics; "
        f"chance {100 * result['chance']:.1f} %)"
    )
    return 0


def cmd_data_msd_users(args: argparse.Namespace) -> int:
    """Select Taste Profile users with more than ``--min-tracks`` tracks with audio, and split them."""
    from lemons.catalogue.msd import MSDCatalogue, select_msd_users, write_msd_users

    catalogue = MSDCatalogue(args.metadata, args.audio_dir, genres_path=args.genres)
    triplets, splits = select_msd_users(
        args.triplets, catalogue, min_tracks=args.min_tracks, max_users=args.max_users, seed=args.seed
    )
    write_msd_users(Path(args.out), triplets, splits)
    print(f"{len(splits)} users with more than {args.min_tracks} listened tracks (with audio) -> {args.out}")
    return 0


def add_build(data: Commands) -> None:
    """Add ``data build``."""
    sub = data.add_parser("build", help="generate the built-in multitrack catalogue (resumes if interrupted)")
    sub.add_argument("--out", help="output directory (default: the catalogue_dir setting)")
    sub.add_argument(
        "--n-tracks",
        type=int,
        default=DEFAULT_TRACKS,
        help=f"number of tracks (default {DEFAULT_TRACKS}: the catalogue the shipped models learned from)",
    )
    sub.add_argument("--seed", type=int, default=0, help="catalogue seed (default 0)")
    sub.add_argument(
        "--duration",
        type=float,
        default=DEFAULT_DURATION,
        help=f"seconds per track (default {DEFAULT_DURATION:g})",
    )
    sub.add_argument("--workers", type=int, help="worker processes (default: the num_workers setting)")
    add_quiet(sub)
    sub.set_defaults(func=cmd_data_build)


def add_msd_users(data: Commands) -> None:
    """Add ``data msd-users``."""
    sub = data.add_parser(
        "msd-users", help="select Taste Profile users with more than N tracks and split them"
    )
    sub.add_argument("--triplets", required=True, help="Taste Profile train_triplets.txt")
    sub.add_argument("--metadata", required=True, help="MSD track_metadata.db or unique_tracks.txt")
    sub.add_argument("--audio-dir", required=True, help="7digital snippets laid out by MSD track id")
    sub.add_argument("--genres", help="optional tagtraum genre file (msd_tagtraum_cd2.cls)")
    sub.add_argument("--min-tracks", type=int, default=900, help="keep users with more than N tracks (900)")
    sub.add_argument("--max-users", type=int, help="keep at most this many users (most tracks first)")
    sub.add_argument("--seed", type=int, default=0)
    sub.add_argument(
        "--out", required=True, help="output directory for triplets.txt, splits.json, users.json"
    )
    sub.set_defaults(func=cmd_data_msd_users)


def add_commands(commands: Commands) -> None:
    """Add ``data build``, ``data validate``, ``data report`` and ``data msd-users``."""
    data = commands.add_parser("data", help="build, validate and load datasets").add_subparsers(
        dest="data_command", required=True, metavar="ACTION"
    )
    add_build(data)
    for name, func, text in (
        ("validate", cmd_data_validate, "re-check checksums and mix == sum of stems"),
        ("report", cmd_data_report, "size, genres and genre separability of a catalogue"),
    ):
        sub = data.add_parser(name, help=text)
        sub.add_argument("dir", nargs="?", help="catalogue directory (default: the catalogue_dir setting)")
        add_quiet(sub)
        sub.set_defaults(func=func)
    add_msd_users(data)
