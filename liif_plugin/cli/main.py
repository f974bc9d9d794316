"""The `liif` command. Each subcommand lives in its own module with `add_parser(subparsers)`.

Every failure the user can fix prints one line on stderr and exits non-zero.
"""

import argparse
import importlib
import sys

from liif_plugin import __version__
from liif_plugin.errors import message_for

SUBCOMMANDS = [
    "liif_plugin.cli.upscale",
    "liif_plugin.cli.weights",
    "liif_plugin.cli.data",
    "liif_plugin.cli.evaluate",
    "liif_plugin.cli.train",
    "liif_plugin.cli.info",
]
EXIT_USAGE = 2


def add_actions(sub, name, help):
    """A subcommand taking an ACTION first (`liif weights list`, `liif data fetch`); returns its subparsers."""
    actions = sub.add_parser(name, help=help).add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    return actions


def build_parser():
    parser = argparse.ArgumentParser(prog="liif", description="Resample images to any size with LIIF.")
    parser.add_argument("--version", action="version", version=f"liif-plugin {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print("liif: interrupted; no partial output was written", file=sys.stderr)
        return 130
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, PermissionError, OSError) as e:
        print(f"liif: error: {message_for(e, 'cli')}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
