"""Engine messages in the widget's words.

The engine's errors end with advice for Python or the command line ("use region=...",
"device='cpu'", "np.nan_to_num"). In the panel that advice names the control to change instead;
``gui_words`` swaps the known advice and leaves the rest of the sentence (what went wrong) as it is.
"""

import re

# (pattern of the engine's advice, what to do in the panel). Matched in order; each applies once.
ADVICE = [
    (
        r"render it in windows \(region=\.\.\.\) or use liif_plugin\.sources\.dask\.upscale",
        "tick 'current view only' to render a part, or choose a smaller scale or output shape",
    ),
    (
        r"store it as zarr and use `liif upscale in\.zarr -o out\.zarr` \(liif_plugin\.sources\.dask\)",
        "open a smaller image or crop this one first (Layers > Transform or a napari crop plugin)",
    ),
    (r"use device='cpu' or 'auto'", "choose 'cpu' or 'auto' under device"),
    (r"use 'auto', 'cpu', 'cuda' or 'mps'", "choose a device from the device list"),
    (r"on the CPU use 'bf16', 'fp32' or 'auto'", "on the CPU choose 'fp32' or 'auto' under precision"),
    (r"use 'fp16', 'fp32' or 'auto'", "choose 'fp16', 'fp32' or 'auto' under precision"),
    (r"use 'fp32' on (\w+)", r"choose 'fp32' under precision on \1"),
    (
        r"replace them first \(e\.g\. np\.nan_to_num\)",
        "replace them first (e.g. with napari's console or a filter plugin)",
    ),
    (r"for a channels-first array use np\.moveaxis\(x, 0, -1\)", "open it with its channel axis last"),
    (r"convert it to uint8, uint16 or float32 first", "convert the layer to uint8, uint16 or float32 first"),
    (
        r"run `liif weights add (\S+) PATH`",
        r"pick the downloaded .pth file with the '…' button next to model "
        r"(or run `liif weights add \1 PATH` in a terminal)",
    ),
    (
        r"give exactly one of scale= \(a factor\) or shape= \(height, width\)",
        "choose a scale factor or an output shape",
    ),
]


def gui_words(message: str) -> str:
    """`message` with the engine's Python/CLI advice replaced by the panel's."""
    for pattern, replacement in ADVICE:
        message = re.sub(pattern, replacement, message, count=1)
    return message
