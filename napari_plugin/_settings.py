"""The widget's choices, remembered between openings and napari sessions.

A small JSON file in the user's config dir (``$LIIF_CONFIG_DIR``, else platformdirs'
``user_config_dir("liif-plugin")``), written when a run starts and when the widget closes. A
missing or unreadable file gives the defaults; a value that no longer fits (a model file that is
gone, a device this machine lacks) is skipped by the widget when it restores.
"""

import json
import os
from pathlib import Path

# widget attribute -> key, per kind of control
COMBOS = {"plane_combo": "plane", "mode_combo": "mode", "device_combo": "device", "precision_combo": "precision"}
CHECKS = {"separate": "separate", "lock": "lock", "view_only": "view_only", "all_selected": "all_selected"}
NUMBERS = {
    "scale_y": "scale_y",
    "scale_x": "scale_x",
    "shape_h": "shape_h",
    "shape_w": "shape_w",
    "pixel_size": "pixel_size",
    "detail": "detail",
}

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
    from liif_plugin.hub.wheels import write_atomic

    try:
        write_atomic(path(), json.dumps(values, indent=1).encode())
    except OSError:
        pass  # a read-only home: the widget still works, it just forgets


def values(widget) -> dict:
    """The widget's choices, as saved (every control is a magicgui widget with a ``.value``)."""
    v = {key: getattr(widget, attr).value for kind in (COMBOS, CHECKS, NUMBERS) for attr, key in kind.items()}
    v["model"] = widget.model_combo.value
    return v


def _fits(value, kind) -> bool:
    if kind is NUMBERS:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, str if kind is COMBOS else bool)


def restore(widget, v: dict) -> None:
    """Put saved choices back, skipping any that no longer fit (a choice this machine lacks, a file gone,
    a number out of range)."""
    model = v.get("model")
    if isinstance(model, str) and (model in widget.model_combo.choices or Path(model).is_file()):
        widget.add_model_path(model)
    for kind in (COMBOS, CHECKS, NUMBERS):
        for attr, key in kind.items():
            if _fits(v.get(key), kind):
                try:
                    getattr(widget, attr).value = v[key]
                except ValueError:  # magicgui refuses a choice it lacks or a number out of range
                    pass
