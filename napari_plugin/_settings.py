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
NUMBERS = {"scale_y": "scale_y", "scale_x": "scale_x", "shape_h": "shape_h", "shape_w": "shape_w",
           "pixel_size": "pixel_size", "detail": "detail"}

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


def values(widget) -> dict:
    """The widget's choices, as saved."""
    v = {key: getattr(widget, attr).currentText() for attr, key in COMBOS.items()}
    v.update({key: getattr(widget, attr).isChecked() for attr, key in CHECKS.items()})
    v.update({key: getattr(widget, attr).value() for attr, key in NUMBERS.items()})
    v["model"] = widget.model_combo.currentText()
    return v


def restore(widget, v: dict) -> None:
    """Put saved choices back, skipping any that no longer fit (a choice this machine lacks, a file gone)."""
    for attr, key in COMBOS.items():
        combo = getattr(widget, attr)
        if isinstance(v.get(key), str) and combo.findText(v[key]) >= 0:
            combo.setCurrentText(v[key])
    model = v.get("model")
    if isinstance(model, str) and (widget.model_combo.findText(model) >= 0 or Path(model).is_file()):
        widget.add_model_path(model)
    for attr, key in CHECKS.items():
        if isinstance(v.get(key), bool):
            getattr(widget, attr).setChecked(v[key])
    for attr, key in NUMBERS.items():
        if isinstance(v.get(key), (int, float)) and not isinstance(v.get(key), bool):
            getattr(widget, attr).setValue(v[key])
