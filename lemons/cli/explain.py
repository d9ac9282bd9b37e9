"""``lemons explain``: why a track is recommended to a user, as listenable audioLIME explanations."""

from __future__ import annotations

import argparse
from pathlib import Path

from explanations.audiolime.factorization import EXPLANATION_TYPES
from lemons.catalogue.registry import CATALOGUES, catalogue_names
from lemons.cli.options import (
    Commands,
    add_catalogue_arguments,
    add_perturbation_arguments,
    add_question_argument,
    add_recommender_arguments,
    add_segment_arguments,
    add_separator_argument,
    command_device,
    load_recommender,
    print_written,
)
from lemons.config import get_settings


def cmd_explain(args: argparse.Namespace) -> int:
    """Explain one track; write the Top Highlight and Top-k WAVs, the JSON report and the figure."""
    from explanations.audiolime.pipeline import ExplainSettings, explain_track
    from explanations.page.outputs import write_outputs

    settings = ExplainSettings(
        args.type, args.n_samples, args.seed, args.segments, args.label, segmenter=args.segmenter
    )
    recommender = load_recommender(args)
    catalogue = CATALOGUES[args.catalogue].open(args.path)
    track = catalogue[args.track]
    result = explain_track(
        recommender,
        catalogue,
        track.id,
        settings,
        args.separator,
        device=command_device(args),
        cache_dir=get_settings().cache_dir,
        progress=not args.quiet,
    )
    context = {
        "user": args.user,
        "title": track.title,
        "artist": track.artist,
        "catalogue": catalogue.name,
        "model": str(recommender.path),
    }
    data = write_outputs(result, Path(args.out), args.k, context)
    explanation = result.explanation
    print(
        f"{track.id} ({track.label}) for {args.user}: "
        f"relevance {explanation.relevance:.3f}; "
        f"{explanation.kind} explanation with {explanation.separator or 'no separator'}, "
        f"N_s={explanation.n_samples}, seed {explanation.seed}"
        + (" (from the cache)" if result.cached else f", {explanation.timings['total_s']:.1f} s")
    )
    print(f"answers: {data['answers']}; fidelity (R²): {explanation.fidelity:.3f}")
    if EXPLANATION_TYPES[explanation.kind].has_segments:
        print(f"segments ({args.segmenter}): " + ", ".join(segment_spans(data["segments"])))
    print(f"Top Highlight: {', '.join(data['top_highlight']['descriptions']) or 'none: ' + data['note']}")
    print(f"Top-{args.k}: {'; '.join(data[f'top_{args.k}']['descriptions']) or 'none'}")
    print_written(args.out, ", ".join(Path(p).name for p in data["files"].values()))
    return 0


def segment_spans(segments: list[dict]) -> list[str]:
    """``0.0–5.8 s`` per segment of a report (``… (A)`` where labelled)."""
    return [
        f"{s['start_s']:.1f}–{s['end_s']:.1f} s" + (f" ({s['label']})" if "label" in s else "")
        for s in segments
    ]


def add_commands(commands: Commands) -> None:
    """Add ``explain``."""
    sub = commands.add_parser("explain", help="explain why a track is recommended to a user (audioLIME)")
    add_recommender_arguments(sub)
    sub.add_argument("--track", required=True, help="track id in the catalogue")
    sub.add_argument("--type", default="time+source", choices=EXPLANATION_TYPES.names())
    add_catalogue_arguments(sub, catalogue_names(held_out=False))
    add_separator_argument(sub)
    add_question_argument(sub)
    add_perturbation_arguments(sub)
    add_segment_arguments(sub)
    sub.add_argument("--k", type=int, default=3, help="components in the Top-k (3)")
    sub.add_argument("--out", required=True, help="folder for the WAVs, explanation.json and explanation.png")
    sub.set_defaults(func=cmd_explain)
