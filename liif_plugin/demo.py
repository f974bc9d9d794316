"""`make demo`: upscale a sample photo x3.5 with LIIF and write it beside a bicubic comparison.

The sample is a 448x448 crop of scikit-image's `astronaut` photo (NASA, public domain), shrunk
to 128x128 with PIL's bicubic filter; LIIF brings it back to 448x448, so the original is the truth.
"""

import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from liif_plugin import load_model, upscale
from liif_plugin.quality.evaluate import psnr

SCALE = 3.5


def labelled(img, text):
    im = Image.fromarray(img)
    canvas = Image.new("RGB", (im.width, im.height + 22), "white")
    canvas.paste(im, (0, 22))
    ImageDraw.Draw(canvas).text((6, 5), text, fill="black")
    return canvas


def main(out_dir="demo_output"):
    from skimage import data

    out = Path(out_dir)
    out.mkdir(exist_ok=True)
    truth = data.astronaut()[0:448, 40:488]
    small = np.asarray(Image.fromarray(truth).resize((128, 128), Image.Resampling.BICUBIC))
    Image.fromarray(small).save(out / "sample_128.png")

    model = load_model("edsr-baseline")
    t = time.perf_counter()
    big = upscale(small, scale=SCALE, model=model)
    dt = time.perf_counter() - t
    bicubic = np.asarray(Image.fromarray(small).resize((big.shape[1], big.shape[0]), Image.Resampling.BICUBIC))
    Image.fromarray(big).save(out / f"sample_x{SCALE}_liif.png")

    p_liif, p_bic = psnr(big, truth), psnr(bicubic, truth)
    panels = [
        labelled(
            np.asarray(Image.fromarray(small).resize(big.shape[1::-1], Image.Resampling.NEAREST)),
            "input 128x128 (nearest)",
        ),
        labelled(bicubic, f"bicubic x{SCALE}: {p_bic:.2f} dB"),
        labelled(big, f"LIIF x{SCALE}: {p_liif:.2f} dB"),
        labelled(truth, "original 448x448"),
    ]
    side = Image.new("RGB", (sum(p.width for p in panels) + 6 * (len(panels) - 1), panels[0].height), "white")
    x = 0
    for p in panels:
        side.paste(p, (x, 0))
        x += p.width + 6
    side.save(out / "comparison.png")
    print(
        f"LIIF x{SCALE}: 128x128 -> {big.shape[1]}x{big.shape[0]} in {dt:.1f} s "
        f"({big.shape[0] * big.shape[1] / dt / 1000:.1f} k px/s)"
    )
    print(f"PSNR against the original: LIIF {p_liif:.2f} dB, bicubic {p_bic:.2f} dB ({p_liif - p_bic:+.2f} dB)")
    print(f"wrote {out / f'sample_x{SCALE}_liif.png'} and {out / 'comparison.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
