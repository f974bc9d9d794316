"""What to tell a user about an image before it is resampled, in one line, in each face's words.

``check(image)`` looks at the image once (a central window, as the chooser does: well under a second
whatever the size): the chooser's signals (noise, JPEG blocks, kind), which model ``auto`` picks for it
and why (liif_plugin.quality.choose), its value range and size. ``Check.advice(face, model, detail)``
turns that into one line for the napari panel, the notebook widget, the command line or Python: what
the image is, which model runs and why, and what to change when the model in use does not suit it.
Which model serves which condition stays the registry's data (``auto_for``); nothing here names a model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from liif_plugin.errors import Face
from liif_plugin.quality.choose import ImageSignals, ModelChoice, at_detail, is_jpeg, model_for

AUTO = "auto"
DETAIL_ADVISED = 0.3  # the detail the advice suggests for an image no installed model suits
LARGE_PIXELS = 1 << 26  # above this many input pixels (all planes) a first look at a part is advised

# Each face's words for the controls the advice names.
WORDS = {
    "napari": {
        "auto": "'auto'",
        "set_auto": "set 'model' to auto",
        "detail": f"lower 'detail' (e.g. to {DETAIL_ADVISED})",
        "large": "look at a part first with Preview or 'live LIIF view'",
        "texture": "if it is clean texture, pick '{name}' in 'model'",
    },
    "notebook": {
        "auto": "auto",
        "set_auto": "pick auto in the model menu",
        "detail": f"lower the detail slider (e.g. to {DETAIL_ADVISED})",
        "large": "",
        "texture": "if it is clean texture, pick {name} in the model menu",
    },
    "cli": {
        "auto": "--model auto",
        "set_auto": "leave --model at auto",
        "detail": f"pass e.g. --detail {DETAIL_ADVISED}",
        "large": "try --region Y0,X0,Y1,X1 on a part first",
        "texture": "if it is clean texture, pass --model {name}",
    },
    "python": {
        "auto": "model='auto'",
        "set_auto": "pass model='auto'",
        "detail": f"pass e.g. detail={DETAIL_ADVISED}",
        "large": "try region=(y0, x0, y1, x1) on a part first",
        "texture": "if it is clean texture, pass model='{name}'",
    },
}
TEXTURE = {
    "jpeg": "enlarges JPEG blocks as detail",
    "noisy-photo": "turns noise into worm-like texture",
    "noisy-photo-light": "turns noise into worm-like texture",
    "noisy-microscopy": "turns noise into worm-like texture",
    "noisy-microscopy-light": "turns noise into worm-like texture",
    "noisy-microscopy-faint": "turns noise into worm-like texture",
}


@dataclass(frozen=True)
class Check:
    """What one look at an image found (one per image: every part of it uses this one choice)."""

    signals: ImageSignals
    auto: ModelChoice  # what model="auto" runs for this image, and why
    dtype: str
    value_range: tuple[float, float] | None  # (min, max) of the window looked at
    shape: tuple[int, int]  # (H, W) of one plane
    planes: int = 1

    def model(self, selected: str | None) -> str:
        """The model that runs for `selected` ('auto' or None: this image's choice; else the named one)."""
        return self.auto.name if selected in (None, AUTO) else str(selected)

    def serves(self, name: str) -> bool:
        """Whether the registry gives `name` this image's condition (its ``auto_for``); a model for one JPEG
        tier serves every JPEG."""
        from liif_plugin.hub import cache

        e = cache.registry().get(name)
        c = self.signals.condition
        return e is not None and (c in e.auto_for or (is_jpeg(c) and any(is_jpeg(a) for a in e.auto_for)))

    def needs_change(self, selected: str | None = AUTO, detail: float = 1.0) -> bool:
        """True when the model that runs is a registry model whose data say it does not suit this image,
        and detail is not lowered: the advice then says what to change (of a file of the user's own the
        registry knows nothing, so nothing is claimed)."""
        from liif_plugin.hub import cache

        name = self.model(selected)
        known = name in cache.registry()
        return known and self.signals.condition != "clean" and not self.serves(name) and detail > DETAIL_ADVISED + 1e-9

    def facts(self) -> str:
        """'512 × 512 × 31 planes, uint16 values 103–3967'."""
        H, W = self.shape
        size = f"{H} × {W}" + (f" × {self.planes} planes" if self.planes > 1 else "")
        if self.value_range is None:
            return f"{size}, {self.dtype}"
        lo, hi = self.value_range
        return f"{size}, {self.dtype} values {_num(lo)}–{_num(hi)}"

    def advice(self, face: Face = "python", selected: str | None = AUTO, detail: float = 1.0) -> str:
        """One line: what the image is, the model that runs and why, and what to change if it does not suit."""
        words = WORDS[face]
        s, name = self.signals, self.model(selected)
        what = s.describe()
        auto = selected in (None, AUTO)
        if auto:
            model = f"{words['auto']} picks '{name}'{at_detail(name)}"
            if s.condition != "clean" and not self.serves(name):
                model += " (no model for this is installed)"
        elif name == self.auto.name:
            model = f"model '{_short(name)}'{at_detail(name)} (what {words['auto']} picks too)"
        else:
            model = f"model '{_short(name)}'{at_detail(name)} ({words['auto']} would pick '{self.auto.name}')"
        line = f"{what}: {model}"
        clean_model = model_for("clean")
        if auto and s.may_be_texture and clean_model is not None and name != clean_model:
            line += "; " + words["texture"].format(name=clean_model)  # the user can tell texture from noise
        todo = []
        if self.needs_change(selected, detail):
            if not auto and self.serves(self.auto.name):
                todo.append(words["set_auto"])
            todo.append(words["detail"])
            line += f"; it {TEXTURE['jpeg' if is_jpeg(s.condition) else s.condition]}: "
            line += ("if this is noise, " if s.may_be_texture else "") + " or ".join(todo)
        vr = self.value_range
        if vr is not None and vr[0] == vr[1]:
            line += f"; the image is flat (every value {_num(vr[0])}): LIIF has nothing to add"
        elif words["large"] and self.shape[0] * self.shape[1] * self.planes > LARGE_PIXELS:
            line += f"; a large image: {words['large']}"
        return f"{line}. {self.facts()}"


def _num(v: float) -> str:
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.3g}"


def _short(name: str) -> str:
    """A model named by a file path, shown by its file name."""
    from pathlib import Path

    return Path(name).name if ("/" in name or "\\" in name) else name


def check(image, *, path=None, planes: int = 1) -> Check:
    """Look at `image` once (an array, Source, zarr, dask array or path; a central window of it).

    `path`: the file it came from (a JPEG's quantization tables); `planes`: how many planes the whole
    image has (a stack), for the size it reports.
    """
    from liif_plugin.quality import choose
    from liif_plugin.sources.source import Source, open_source

    src = image if isinstance(image, Source) else open_source(image if path is None else image)
    sample = choose._sample(src)  # the chooser's own window: both look at the same pixels
    signals = choose.measure(sample, path=path)
    picked = choose.choose_model(sample, path=path)
    finite = sample[np.isfinite(sample)] if np.issubdtype(sample.dtype, np.floating) else sample
    value_range = (float(finite.min()), float(finite.max())) if finite.size else None
    H, W = src.shape
    return Check(signals, picked, str(sample.dtype), value_range, (int(H), int(W)), planes)
