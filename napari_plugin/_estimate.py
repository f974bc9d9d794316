"""What a resample will cost before it runs: peak memory (output + working buffers) and time.

The work of a layer is, plane by plane and input block by input block (liif_plugin.engine.tiles): read
the block's window and halo as float planes, encode it, build the MLP's first-layer map, then
decode its output pixels in bands, each converted to the layer's dtype into the output. The
memory estimate is the output plus the largest of those phases; the time estimate is the input pixels
encoded and output pixels decoded over this machine's measured rates (liif_plugin.runtime.speed).
``Work`` also lists the steps in order, so the progress bar can count encoding (which reports
nothing until it ends) as well as decoding.

The per-phase sizes were measured (process RSS, 2-core AMD EPYC, released EDSR-baseline): an
encode holds about 4 feature maps of its pass, a first-layer map about 1.1 times its size, the
decoder about 6 chunk activations per thread plus about 900 bytes per band pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from liif_plugin.engine.decoder import CPU_CHUNK
from liif_plugin.engine.field import PRE_CACHE_BYTES
from liif_plugin.engine.model import ENCODE_TILE
from liif_plugin.engine.tiles import BLOCK, MARGIN, output_spans
from liif_plugin.runtime.speed import Speed

from ._resample import BAND_LIMITS, BAND_PIXELS, BAND_SECONDS, spatial_shape

ENCODER_MAPS = 4  # feature maps alive in an encoder pass (its output included)
PRE_FACTOR = 1.1  # the first-layer map and its scratch, over the map's size
DECODER_CHUNKS = 6  # chunk activations (CPU_CHUNK pixels x 4 ensemble rows x hidden) per thread
BAND_BYTES_PER_PIXEL = 900  # lookups, coordinates, weights and predictions of one band pixel
BAND_BURST_PIXELS = 1 << 15  # the band the estimate allows at least (measured bands reach it under load)
# from_planes: a float32 channel mean, then float64 scaling, rounding and clipping (three float64
# copies alive at once), and the converted plane before it is copied into the output.
CONVERT_BYTES_PER_VALUE = 4 + 3 * 8
OVERHEAD_BYTES = 16 << 20  # allocator slack and torch's scratch: measured, not derived
# A model not loaded yet: the released EDSR-baseline's sizes.
DEFAULT_FEATS, DEFAULT_HIDDEN, DEFAULT_RADIUS = 64, 256, 34


@dataclass(frozen=True)
class Arch:
    feats: int = DEFAULT_FEATS
    hidden: int = DEFAULT_HIDDEN
    radius: int = DEFAULT_RADIUS

    @classmethod
    def of(cls, model) -> Arch:
        if model is None:
            return cls()
        return cls(int(model.net.encoder.out_dim), int(model.hidden), int(model.receptive_radius))


@dataclass(frozen=True)
class Work:
    """One layer's render as steps in the order they run: ('encode', input px), ('decode', output px)."""

    steps: tuple  # of (kind, pixels of each sub-plane)
    sub: int  # 3-channel sub-planes per plane (2 for RGBA: colour and alpha)
    output_bytes: int
    working_bytes: int

    @property
    def encode_px(self) -> int:
        return self.sub * sum(n for kind, n in self.steps if kind == "encode")

    @property
    def decode_px(self) -> int:
        return self.sub * sum(n for kind, n in self.steps if kind == "decode")

    @property
    def encode_calls(self) -> int:
        return sum(kind == "encode" for kind, _ in self.steps)

    @property
    def total_bytes(self) -> int:
        return self.output_bytes + self.working_bytes

    def seconds(self, speed: Speed) -> float:
        return speed.seconds(self.encode_px, self.decode_px, self.encode_calls)


def _extent(lo, hi, n, pad):
    return min(hi + pad, n) - max(lo - pad, 0)


def band_pixels(speed: Speed | None) -> int:
    """The band iter_resample settles on: BAND_SECONDS of decoding at the measured speed."""
    if speed is None:
        return BAND_PIXELS
    return int(min(max(speed.decode_px_per_s * BAND_SECONDS, BAND_LIMITS[0]), BAND_LIMITS[1]))


def work(in_shape, out_shape, region, planes, sub, chans, itemsize, arch=Arch(), speed=None, block=BLOCK) -> Work:
    """Steps and memory of rendering `planes` planes of `chans` channels (`sub` 3-channel sub-planes each)."""
    H, W = in_shape
    h, w = out_shape
    y0, x0, y1, x1 = region
    steps, enc_peak, dec_peak = [], 0, 0
    threads = torch.get_num_threads()
    decoder = threads * DECODER_CHUNKS * CPU_CHUNK * 4 * arch.hidden * 4
    # The band adapts to the speed of the last one, which swings on a shared machine: allow for bursts.
    band_px = min(max(band_pixels(speed), BAND_BURST_PIXELS), h * w)
    # Per band: the decoder's buffers, the float32 part and its conversion to the layer's dtype.
    band = band_px * (sub * (BAND_BYTES_PER_PIXEL + 3 * 4) + chans * (CONVERT_BYTES_PER_VALUE + itemsize))
    tile = ENCODE_TILE + 2 * arch.radius
    for (ra, rb), (oa, ob) in output_spans(h, y0, y1, H, block):
        for (ca, cb), (pa, pb) in output_spans(w, x0, x1, W, block):
            fh, fw = _extent(ra, rb, H, MARGIN), _extent(ca, cb, W, MARGIN)
            eh, ew = _extent(ra, rb, H, MARGIN + arch.radius), _extent(ca, cb, W, MARGIN + arch.radius)
            steps.append(("encode", eh * ew))
            steps.append(("decode", (ob - oa) * (pb - pa)))
            ph, pw = (eh, ew) if eh <= tile and ew <= tile else (min(eh, tile), min(ew, tile))
            feat = sub * arch.feats * fh * fw * 4
            window = 2 * sub * 3 * eh * ew * 4  # the block's float planes, and their normalised copy
            enc_peak = max(enc_peak, window + feat + ENCODER_MAPS * sub * arch.feats * ph * pw * 4)
            pre = min(sub * arch.hidden * fh * fw * 4, PRE_CACHE_BYTES) * PRE_FACTOR
            dec_peak = max(dec_peak, feat + pre + decoder + band)
    plane_in = H * W * chans * itemsize  # a lazy plane is read whole (a numpy one is a view: an upper bound)
    working = OVERHEAD_BYTES + plane_in + max(enc_peak, dec_peak)
    return Work(tuple(steps) * planes, sub, planes * h * w * chans * itemsize, int(working))


def layer_work(layer, region, out_shape, planes, arch=Arch(), speed=None) -> Work:
    """`work` for a napari Image layer (gray: one sub-plane; RGB one; RGBA two, colour and alpha)."""
    chans = layer.data.shape[-1] if layer.rgb else 1
    return work(
        spatial_shape(layer),
        out_shape,
        region,
        planes,
        2 if chans == 4 else 1,
        chans,
        np.dtype(layer.dtype).itemsize,
        arch,
        speed,
    )
