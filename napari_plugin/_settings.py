"""The widget's choices, remembered between openings and napari sessions.

A small JSON file in the user's config dir (``$LIIF_CONFIG_DIR``, else platformdirs'
``user_config_dir("liif-plugin")``), written when a run starts and when the widget closes. A
missing or unreadable file gives the defaults; a value that no longer fits (a model file that is
gone, a device this machine lacks) is skipped by the widget when it restores.
"""
import json
import os
from pathlib import Path

FILE = "napari-widget.json"


def path() -> Path:
    env = os.environ.get("LIIF_CONFIG_DIR")
    if env:
        return Path(env).expanduser() / FILE
    from platformdirs import user_config_dir

    return Path(user_config_dir("liif-plugin")) / FILE


def load() -> dict:
    try:
        raw = json.loads(path().read_text())
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def save(values: dict) -> None:
    from liif_plugin.pypi import write_atomic

    try:
        write_atomic(path(), json.dumps(values, indent=1).encode())
    except OSError:
        pass  # a read-only home: the widget still works, it just forgets
