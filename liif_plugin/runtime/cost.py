"""What a render will cost before it runs: peak memory (output + working buffers) and time.

The work of one plane is, input block by input block (liif_plugin.engine.tiles): read the block's
window and halo as float planes, encode it, build the MLP's first-layer map, then decode its output
pixels in bands, each converted to the output's dtype. The memory estimate is the output plus the
largest of those phases; the time estimate is the input pixels encoded and output pixels decoded
over this machine's measured rates (liif_plugin.runtime.speed). ``Work`` also lists the steps in
order, so a progress bar (liif_plugin.runtime.progress) can count encoding, which reports nothing
until it ends, as well as decoding.

The per-phase sizes were measured (process RSS, 2-core AMD EPYC, released EDSR-baseline): an
encode holds about 4 feature maps of its pass, a first-layer map about 1.1 times its size, the
decoder about 6 chunk activations per thread plus about 900 bytes per band pixel.

Faces read the engine's tuning (tile and block sizes, cache bounds) through ``tuning()`` rather
than importing the engine's constants; it reads them when called, so a changed value is seen.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from liif_plugin.runtime.speed import Speed

ENCODER_MAPS = 4  # feature maps alive in an encoder pass (its output included)
PRE_FACTOR = 1.1  # the first-layer map and its scratch, over the map's size
DECODER_CHUNKS = 6  # chunk activations (decoder chunk pixels x 4 ensemble rows x hidden) per thread
BAND_BYTES_PER_PIXEL = 900  # lookups, coordinates, weights and predictions of one band pixel
BAND_BURST_PIXELS = 1 << 15  # the band the estimate allows at least (measured bands reach it under load)
# from_planes: a float32 channel mean, then float64 scaling, rounding and clipping (three float64
# copies alive at once), and the converted plane before it is copied into the output.
CONVERT_BYTES_PER_VALUE = 4 + 3 * 8
OVERHEAD_BYTES = 16 << 20  # allocator slack and torch's scratch: measured, not derived
# A model not loaded yet: the released EDSR-baseline's sizes.
DEFAULT_FEATS, DEFAULT_HIDDEN, DEFAULT_RADIUS = 64, 256, 34

# A render that reports progress does so between bands of output pixels (all planes of one band),
# each sized from the measured speed to take about BAND_SECONDS: a cancel answers well within a
# second on a slow CPU while a GPU still gets large, efficient batches.
FIRST_BAND = 4096  # output pixels of the first band, before any speed is measured
BAND_SECONDS = 0.25
BAND_LIMITS = (1024, 1 << 18)

# Until a machine's speed is measured (on the first run of a model, device and precision): about what
# the released model does on 2 CPU cores. Estimates made with it should say they are rough.
ROUGH_SPEED = Speed(encode_px_per_s=8_000, decode_px_per_s=15_000, encode_call_s=0.3)


@dataclass(frozen=True)
class Tuning:
    """The engine's sizes that a render's cost depends on."""

    tile: int  # input pixels per side of a cached latent tile
    block: int  # input pixels per side of one block of a large render
    margin: int  # latent codes a part's window reaches beyond its pixel centres
    tile_cache_bytes: int  # default bound of a tiled field's latent tile cache
    pre_cache_bytes: int  # the first-layer map of a whole window is kept up to this size
    encode_tile: int  # input pixels per side of one encoder pass
    decoder_chunk: int  # output pixels per decoder chunk on the CPU


def tuning() -> Tuning:
    """The engine's current tuning (read now, not at import)."""
    from liif_plugin.engine import decoder, field, model, tiles

    return Tuning(
        tile=tiles.TILE,
        block=tiles.BLOCK,
        margin=tiles.MARGIN,
        tile_cache_bytes=tiles.CACHE_BYTES,
        pre_cache_bytes=field.PRE_CACHE_BYTES,
        encode_tile=model.ENCODE_TILE,
        decoder_chunk=decoder.CPU_CHUNK,
    )


@dataclass(frozen=True)
class Arch:
    """The sizes of a model that its cost depends on."""

    feats: int = DEFAULT_FEATS
    hidden: int = DEFAULT_HIDDEN
    radius: int = DEFAULT_RADIUS

    @classmethod
    def of(cls, model=None) -> Arch:
        """The sizes of a LiifModel; the released EDSR-baseline's for None."""
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


def _extent(lo: int, hi: int, n: int, pad: int) -> int:
    return min(hi + pad, n) - max(lo - pad, 0)


def _reach(n_out: int, lo: float, hi: float, j0: int, j1: int, n_in: int, margin: int) -> tuple[int, int]:
    """Input pixels [a, b) that output pixels [j0, j1) reach, `margin` beyond their centres (as the
    engine's tiled field computes the window of a part)."""
    step = (hi - lo) / n_out
    a = math.floor(lo + (j0 + 0.5) * step) - margin
    b = math.floor(lo + (j1 - 0.5) * step) + margin + 1
    return max(a, 0), min(b, n_in)


def _tiles(a: int, b: int, n: int, tile: int) -> tuple[int, int]:
    """[a, b) widened to whole latent tiles (the tiled field encodes whole tiles)."""
    return a // tile * tile, min(-(-b // tile) * tile, n)


def settled_band(px_per_s: float) -> int:
    """Output pixels of a band that takes BAND_SECONDS at `px_per_s`, within BAND_LIMITS."""
    return int(min(max(px_per_s * BAND_SECONDS, BAND_LIMITS[0]), BAND_LIMITS[1]))


def band_pixels(speed: Speed | None) -> int:
    """The band a render settles on at a measured speed (FIRST_BAND when none is known)."""
    return FIRST_BAND if speed is None else settled_band(speed.decode_px_per_s)


class Bands:
    """Band sizes for a render that reports progress: each sized from the last band's measured rate.

    Give it as ``band=`` to ``TiledField.parts`` (it is called before each band) and tell it the
    output pixels each band held with ``rendered``.
    """

    def __init__(self, first: int | None = None, clock: Callable[[], float] = time.perf_counter):
        self.size = int(FIRST_BAND if first is None else first)
        self.clock = clock
        self._since: float | None = None
        self._pixels = 0

    def rendered(self, pixels: int) -> None:
        """The band just finished held `pixels` output pixels (all planes)."""
        self._pixels = int(pixels)

    def __call__(self) -> int:
        now = self.clock()
        if self._since is not None and self._pixels:
            self.size = settled_band(self._pixels / max(now - self._since, 1e-3))
        self._since, self._pixels = now, 0
        return self.size


def work(
    in_shape: tuple[int, int],
    out_shape: tuple[int, int],
    region: tuple[float, float, float, float],
    planes: int,
    sub: int,
    chans: int,
    itemsize: int,
    arch: Arch = Arch(),
    speed: Speed | None = None,
    block: int | None = None,
) -> Work:
    """Steps and memory of rendering `planes` planes of `chans` channels (`sub` 3-channel sub-planes
    each) from an (H, W) input, the output grid (h, w) over `region` (y0, x0, y1, x1) in pixel edges."""
    import torch

    from liif_plugin.engine.coords import supersampling
    from liif_plugin.engine.tiles import output_spans

    t = tuning()
    block = t.block if block is None else block
    H, W = in_shape
    h, w = out_shape
    y0, x0, y1, x1 = region
    steps, enc_peak, dec_peak = [], 0, 0
    threads = torch.get_num_threads()
    decoder = threads * DECODER_CHUNKS * t.decoder_chunk * 4 * arch.hidden * 4
    # The band adapts to the speed of the last one, which swings on a shared machine: allow for bursts.
    band_px = min(max(band_pixels(speed), BAND_BURST_PIXELS), h * w)
    # Per band: the decoder's buffers, the float32 part and its conversion to the output's dtype.
    band = band_px * (sub * (BAND_BYTES_PER_PIXEL + 3 * 4) + chans * (CONVERT_BYTES_PER_VALUE + itemsize))
    tile = t.encode_tile + 2 * arch.radius
    samples = math.prod(supersampling((h, w), region))  # queries per output pixel (more when shrinking)
    for _, (oa, ob) in output_spans(h, y0, y1, H, block):
        ra, rb = _tiles(*_reach(h, y0, y1, oa, ob, H, t.margin), H, t.tile)  # the part's latent window
        for _, (pa, pb) in output_spans(w, x0, x1, W, block):
            ca, cb = _tiles(*_reach(w, x0, x1, pa, pb, W, t.margin), W, t.tile)
            fh, fw = rb - ra, cb - ca
            eh, ew = _extent(ra, rb, H, arch.radius), _extent(ca, cb, W, arch.radius)  # and the encoder's halo
            steps.append(("encode", eh * ew))
            steps.append(("decode", (ob - oa) * (pb - pa) * samples))
            ph, pw = (eh, ew) if eh <= tile and ew <= tile else (min(eh, tile), min(ew, tile))
            feat = sub * arch.feats * fh * fw * 4
            window = 2 * sub * 3 * eh * ew * 4  # the block's float planes, and their normalised copy
            enc_peak = max(enc_peak, window + feat + ENCODER_MAPS * sub * arch.feats * ph * pw * 4)
            pre = min(sub * arch.hidden * fh * fw * 4, t.pre_cache_bytes) * PRE_FACTOR
            dec_peak = max(dec_peak, feat + pre + decoder + band)
    plane_in = H * W * chans * itemsize  # a lazy plane is read whole (a numpy one is a view: an upper bound)
    working = OVERHEAD_BYTES + plane_in + max(enc_peak, dec_peak)
    return Work(tuple(steps) * planes, sub, planes * h * w * chans * itemsize, int(working))


def peak_bytes(works: Iterable[Work]) -> int:
    """Memory of a run over several images: every result is held until the end, one works at a time."""
    works = list(works)
    return sum(wk.output_bytes for wk in works) + max((wk.working_bytes for wk in works), default=0)


def seconds(works: Iterable[Work], speed: Speed) -> float:
    """Estimated seconds of a run over several images, one after the other."""
    return sum(wk.seconds(speed) for wk in works)


def format_bytes(n: float) -> str:
    """'512 B', '1.5 MB', '2.1 GB' (powers of 1000)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def format_seconds(s: float) -> str:
    """'45 s', '12 min', '3.5 h'."""
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min" if s < 7200 else f"{s / 3600:.1f} h"
