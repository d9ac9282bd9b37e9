"""Options several commands share, and what the commands do with them."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from explanations.audiolime.questions import DEFAULT_QUESTION, QUESTIONS
from explanations.audiolime.segmenters import DEFAULT_SEGMENTER, SEGMENTERS
from explanations.audiolime.separation import SEPARATORS
from lemons.catalogue.registry import CATALOGUES
from lemons.config import get_settings

if TYPE_CHECKING:  # the recommender is imported when a command runs, not to build the parser
    import torch

    from recsys.checkpoint import Recommender

#: ``add_subparsers()``'s result, to which each command group adds its commands.
Commands = argparse._SubParsersAction


def described(names: Iterable[str], describe: dict[str, str], default: str | None = None) -> str:
    """Help text listing ``names`` with their descriptions (where they say more), the default marked."""
    items = []
    for name in names:
        notes = [describe[name]] if describe.get(name, name) != name else []
        notes += ["default"] if name == default else []
        items.append(f"{name} ({', '.join(notes)})" if notes else name)
    return ", ".join(items)


def add_quiet(sub: argparse.ArgumentParser) -> None:
    """``--quiet``: no progress bars."""
    sub.add_argument("--quiet", action="store_true", help="no progress bars")


def add_device(sub: argparse.ArgumentParser) -> None:
    """``--device``: where the recommender runs."""
    sub.add_argument("--device", help="cpu, cuda, cuda:N or auto (default: the device setting)")


def add_recommender_arguments(sub: argparse.ArgumentParser) -> None:
    """``--user``, ``--model``, ``--device`` and ``--quiet``: a user's recommender, run somewhere."""
    sub.add_argument("--user", required=True, help="user (persona) name")
    sub.add_argument("--model", help="checkpoint to use (default: <models_dir>/<user>.pt)")
    add_device(sub)
    add_quiet(sub)


def add_catalogue_arguments(sub: argparse.ArgumentParser, names: tuple[str, ...]) -> None:
    """``--catalogue`` (one of ``names``, registered catalogues) and ``--path``, from the registry."""
    describe = {entry.name: entry.description for entry in CATALOGUES}
    sub.add_argument(
        "--catalogue", default="builtin", choices=names, help=described(names, describe, "builtin")
    )
    settings = sorted({CATALOGUES[name].setting for name in names if CATALOGUES[name].setting})
    sub.add_argument("--path", help=f"the catalogue's folder (default: its setting: {', '.join(settings)})")


def separators_help() -> str:
    """The registered separators with what each gives, for help texts."""
    return described(SEPARATORS.names(), {entry.name: entry.description for entry in SEPARATORS})


def add_separator_argument(sub: argparse.ArgumentParser) -> None:
    """``--separator``: one of the registered separators, or the best available one for the track."""
    sub.add_argument(
        "--separator", choices=SEPARATORS.names(), help=f"{separators_help()}; default: the best available"
    )


def add_question_argument(sub: argparse.ArgumentParser) -> None:
    """``--label``: the question an explanation answers (``relevant``, ``not-relevant`` or ``top``)."""
    sub.add_argument(
        "--label",
        default=DEFAULT_QUESTION,
        choices=QUESTIONS.names(),
        help="the question explained: "
        + described(QUESTIONS.names(), {q.name: q.description for q in QUESTIONS}, DEFAULT_QUESTION),
    )


def add_perturbation_arguments(sub: argparse.ArgumentParser) -> None:
    """The sampling options shared by every command that computes explanations."""
    sub.add_argument("--n-samples", type=int, default=2048, help="perturbations N_s (2048)")
    sub.add_argument("--seed", type=int, default=0, help="seed of the perturbations (0)")


def add_segment_arguments(sub: argparse.ArgumentParser) -> None:
    """``--segments`` and ``--segmenter``: how many time segments, and where they lie."""
    sub.add_argument("--segments", type=int, default=5, help="time segments (5; at most 5 sections)")
    sub.add_argument(
        "--segmenter",
        default=DEFAULT_SEGMENTER,
        choices=SEGMENTERS.names(),
        help="where the time segments lie: "
        + described(SEGMENTERS.names(), {s.name: s.description for s in SEGMENTERS}, DEFAULT_SEGMENTER),
    )


def add_study_arguments(sub: argparse.ArgumentParser, study: str, device: bool = True) -> None:
    """Output folder, device and progress options of an experiment."""
    sub.add_argument("--out", default=f"results/{study}", help=f"output folder (results/{study})")
    if device:
        add_device(sub)
    add_quiet(sub)


def command_device(args: argparse.Namespace) -> torch.device:
    """The ``--device`` of a command, else the device setting (``auto``: CUDA when available)."""
    from recsys.inference import resolve_device

    return resolve_device(args.device or get_settings().device)


def load_recommender(args: argparse.Namespace) -> Recommender:
    """The checkpoint ``--model``, else the user's published model, on the command's device."""
    from recsys.checkpoint import find_model, load_checkpoint

    return load_checkpoint(Path(args.model) if args.model else find_model(args.user), command_device(args))


def study_options(args: argparse.Namespace, device: bool = True) -> dict[str, Any]:
    """The keyword arguments every study takes from its options: device, cache and progress."""
    options: dict[str, Any] = {"cache_dir": get_settings().cache_dir, "progress": not args.quiet}
    if device:
        options["device"] = command_device(args)
    return options


def print_written(out: str, files: str) -> None:
    """The last line of a command that wrote ``files`` into the folder ``out``."""
    print(f"written to {out}: {files}")
