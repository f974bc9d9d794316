"""Before/after figure for docs/weights.md: the StarDist nuclei image shrunk x4, brought back.

Panels, one display range for all (the original crop's min..max): the x4 low-resolution input
(nearest-neighbour enlarged), PIL bicubic, LIIF (edsr-baseline), the original. The LR is made the
way `liif evaluate` makes it (liif_plugin.quality.evaluate.degrade). Writes docs/nuclei-x4.png.

    .venv/bin/python scripts/nuclei_figure.py [OUT.png]
"""

import sys
from pathlib import Path

import numpy as np
from PIL import Image

import liif_plugin as liif
from liif_plugin.hub import sample_data
from liif_plugin.quality.evaluate import bicubic_resize, degrade

OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "docs" / "nuclei-x4.png"
SCALE, BOX, ZOOM = 4, (272, 16, 400, 144), 2  # crop of the HR image (y0, x0, y1, x1), shown 2x enlarged


def main():
    y0, x0, y1, x1 = BOX
    hr, lr = degrade(sample_data.nuclei_2d(), SCALE)
    lr_box = tuple(v // SCALE for v in BOX)
    lr_crop = lr[lr_box[0] : lr_box[2], lr_box[1] : lr_box[3]]
    field = liif.load_model().encode(lr)
    liif_crop = field.render((y1 - y0, x1 - x0), region=lr_box)  # only the window, on the same grid
    bic = bicubic_resize(lr, hr.shape)[y0:y1, x0:x1]
    nearest = np.repeat(np.repeat(lr_crop, SCALE, 0), SCALE, 1)
    gt = hr[y0:y1, x0:x1]
    lo, hi = float(gt.min()), float(gt.max())
    tiles = [np.clip((t.astype(np.float32) - lo) / (hi - lo), 0, 1) for t in (nearest, bic, liif_crop, gt)]
    tiles = [np.kron((t * 255 + 0.5).astype(np.uint8), np.ones((ZOOM, ZOOM), np.uint8)) for t in tiles]
    gap = np.full((tiles[0].shape[0], 6), 255, np.uint8)
    strip = np.concatenate([t for pair in zip(tiles, [gap] * 4) for t in pair][:-1], axis=1)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(strip).save(OUT)
    print(f"wrote {OUT}: x{SCALE} LR | bicubic | LIIF | original, crop {BOX} of {hr.shape}")


if __name__ == "__main__":
    main()
