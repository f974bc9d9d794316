"""Errors a user can fix: what went wrong, and what to do in each face's own words.

The engine knows what went wrong; only the face knows what the user can click or type. So an
error carries a structured ``hint`` with one sentence per face (Python, the command line, the
napari panel, the notebook widget) and each face asks for its own with ``message_for``. The
exception's ``str`` is the Python wording, so plain ``except ValueError`` code keeps working.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Face = Literal["python", "cli", "napari", "notebook"]


@dataclass(frozen=True)
class Hint:
    """What to do, per face; a face without its own sentence gets the Python one."""

    python: str
    cli: str | None = None
    napari: str | None = None
    notebook: str | None = None

    def for_face(self, face: Face) -> str:
        return getattr(self, face, None) or self.python


def one_line(e: BaseException) -> BaseException:
    """Mark `e` to show in Jupyter / IPython as its one sentence, not a traceback (IPython's
    ``_render_traceback_`` protocol); for errors about the user's input, whose sentence says it all."""
    e._render_traceback_ = lambda: [f"{type(e).__name__}: {e}"]  # type: ignore[attr-defined]
    return e


class LiifError(ValueError):
    """A bad input or setting: ``what`` went wrong, ``hint`` says what to do (per face)."""

    def __init__(self, what: str, hint: Hint | str | None = None):
        self.what = what
        self.hint = Hint(hint) if isinstance(hint, str) else hint
        super().__init__(self.message_for("python"))

    def message_for(self, face: Face) -> str:
        if self.hint is None:
            return self.what
        return f"{self.what}; {self.hint.for_face(face)}"

    def _render_traceback_(self) -> list[str]:
        """In Jupyter / IPython: the sentence, not a traceback (it says what to do; see one_line)."""
        return [f"{type(self).__name__}: {self}"]


class LiifTypeError(LiifError, TypeError):
    """A value of the wrong kind (an unsupported dtype, not an array)."""


class LiifFileNotFoundError(LiifError, FileNotFoundError):
    """A file or model that is not there."""


class CheckpointError(LiifError):
    """A file that is not a LIIF checkpoint this project can read safely."""


class Cancelled(Exception):
    """Raised inside a render when its progress callback (or a newer request) asks it to stop."""


def message_for(exc: BaseException, face: Face) -> str:
    """The one-line message a face shows for `exc`: its own hint for a LiifError, else the text."""
    if isinstance(exc, LiifError):
        return exc.message_for(face)
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
