"""The `liif` command. Each subcommand lives in its own module with `add_parser(subparsers)`.

Every failure the user can fix prints one line on stderr and exits non-zero.
"""

import argparse
import importlib
import os
import signal
import sys
import threading

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
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143, as a shell reports a process SIGTERM ended


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that it unwinds like Ctrl-C: every atomic write removes
    its temporary file on the way out (a BaseException, so no `except Exception` swallows it)."""


def _raise_terminated(signum, frame):
    raise Terminated


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line, not the whole usage block."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_actions(sub, name, help):
    """A subcommand taking an ACTION first (`liif weights list`, `liif data fetch`); returns its subparsers."""
    actions = sub.add_parser(name, help=help).add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    return actions


def build_parser():
    parser = Parser(prog="liif", description="Resample images to any size with LIIF.")
    parser.add_argument("--version", action="version", version=f"liif-plugin {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    # signal.signal works in the main thread only (main() may be called from another one).
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if main_thread else None
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print("liif: interrupted; no partial output was written", file=sys.stderr)
        return 130
    except Terminated:
        print("liif: terminated; no partial output was written", file=sys.stderr)
        return EXIT_TERMINATED
    except BrokenPipeError:  # `liif weights list | head -1`: the reader has all it wants; say nothing
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # (Python's flush at exit would fail)
        return 1
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, PermissionError, OSError) as e:
        print(f"liif: error: {message_for(e, 'cli')}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main())
