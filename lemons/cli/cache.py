"""``lemons cache``: what the caches under the ``cache_dir`` setting hold, and clearing them."""

from __future__ import annotations

import argparse

from lemons.cache import CACHES, cache_usage, clear_caches, format_bytes, limit_bytes
from lemons.cli.options import Commands
from lemons.config import get_settings


def cmd_cache_info(args: argparse.Namespace) -> int:
    """Print each cache's size and number of entries, and the size limit they share."""
    settings = get_settings()
    usage = cache_usage(settings.cache_dir)
    limit = limit_bytes(settings)
    counted = sum(item.bytes for item in usage if item.kind.bounded)
    share = f", {counted / limit:.0%} used" if limit else ""
    print(f"cache folder: {settings.cache_dir}")
    print(
        f"limit: {format_bytes(limit) + share if limit else 'none'} "
        f"(cache_max_gb = {settings.cache_max_gb:g}; the least recently used entries go first)"
    )
    for item in usage:
        note = "" if item.kind.bounded else "  (not in the limit: removed with their session)"
        size = format_bytes(item.bytes)
        entries = f"{item.entries:7d} {'entry' if item.entries == 1 else 'entries'}"
        print(f"{item.kind.name:14s} {size:>9s} {entries:15s} {item.kind.holds}{note}")
    print(f"{'total':14s} {format_bytes(sum(item.bytes for item in usage)):>9s}")
    return 0


def cmd_cache_clear(args: argparse.Namespace) -> int:
    """Remove every entry of the chosen caches (all by default)."""
    cache_dir = get_settings().cache_dir
    names = CACHES.names() if args.which == "all" else (args.which,)
    count, size = clear_caches(cache_dir, names)
    print(f"removed {count} entries ({format_bytes(size)}) of {', '.join(names)} from {cache_dir}")
    return 0


def add_commands(commands: Commands) -> None:
    """Add ``cache info`` and ``cache clear``."""
    cache = commands.add_parser("cache", help="the caches under the cache_dir setting").add_subparsers(
        dest="cache_command", required=True, metavar="ACTION"
    )
    sub = cache.add_parser("info", help="size and entries of each cache, and the size limit (cache_max_gb)")
    sub.set_defaults(func=cmd_cache_info)
    sub = cache.add_parser("clear", help="remove the entries of one cache, or of all")
    sub.add_argument(
        "--which",
        default="all",
        choices=(*CACHES.names(), "all"),
        help="; ".join(f"{kind.name}: {kind.holds}" for kind in CACHES) + "; all (default): every one",
    )
    sub.set_defaults(func=cmd_cache_clear)
