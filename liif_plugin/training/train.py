"""Fine-tuning (or training) a LIIF model on your own images, following the authors' recipe.

One step: for each batch item pick an image, a scale s ~ U(1, max_scale) and a random HR crop of
round(48 s) px (random flips / transpose), shrink it to a 48x48 LR patch with antialiased bicubic,
encode the patch, decode 2304 randomly sampled HR pixels at their coordinates with the HR cell size,
and take the L1 loss against the true values (all in the model's own units, [-1, 1] for the authors'
models). Adam optimizes.

Images go through ``liif_plugin.sources.arrays`` exactly like at inference: gray is copied to RGB and
16-bit or other-range data is stretched per plane to [0, 1]. The bottom ``val_fraction`` of every
image is never trained on; validation PSNR is measured there with ``liif_plugin.quality.evaluate``.

Checkpoints are written in the authors' format (``{"model": {...}, "optimizer": {"name", "args",
"sd"}, "epoch": step}``) so ``load_model(path)``, ``liif weights add`` and the authors' code read them,
and ``resume=`` continues a run from one.
"""

import json
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from liif_plugin.engine.reference import query_reference
from liif_plugin.models.checkpoint import build_network, read_checkpoint, save_checkpoint
from liif_plugin.models.families import AUTHORS_NORM, Normalization
from liif_plugin.models.liif import LIIF
from liif_plugin.sources import arrays
from liif_plugin.training.degradations import Degradation, DegradeName, make_degradation

LR_PATCH = 48
SAMPLE_Q = 2304
DEFAULT_ENCODERS = ("edsr-baseline", "rdn")


Bf16 = Literal["auto", "on", "off"] | bool


def resolve_bf16(bf16: Bf16, native: tuple | list | set) -> bool:
    """True when the forward pass should autocast to bfloat16: "on"/True, or "auto" where it is native."""
    if isinstance(bf16, bool):
        return bf16
    if bf16 == "auto":
        return "bf16" in native
    if bf16 in ("on", "off"):
        return bf16 == "on"
    raise ValueError(f"bf16 must be 'auto', 'on' or 'off' (or True / False), got {bf16!r}")


def scratch_spec(encoder="edsr-baseline"):
    """The authors' LIIF spec for a new model with the given encoder."""
    if encoder not in DEFAULT_ENCODERS:
        raise ValueError(f"unknown encoder {encoder!r}; choose one of {', '.join(DEFAULT_ENCODERS)}")
    return {
        "name": "liif",
        "args": {
            "encoder_spec": {"name": encoder, "args": {"no_upsampling": True}},
            "imnet_spec": {"name": "mlp", "args": {"out_dim": 3, "hidden_list": [256, 256, 256, 256]}},
        },
    }


# -- data -------------------------------------------------------------------------------------


def load_planes(images):
    """Images (arrays, files or folders) -> ([(plane (3, H, W) float32 in [0, 1], levels or None)], arrays)."""
    from liif_plugin.quality.evaluate import image_files, read_image

    if isinstance(images, (str, Path)):
        images = [images]
    arrs = []
    for item in images:
        if isinstance(item, (str, Path)):
            arrs.extend(read_image(p) for p in image_files([item]))
        else:
            arrs.append(arrays.check_image(np.asarray(item)))
    if not arrs:
        raise ValueError("no training images were given")
    planes = []
    for a in arrs:
        p, _ = arrays.to_planes(a)
        # 8-bit images keep their 8-bit LR: the authors' bicubic goes through uint8 PIL images, and a
        # model that learns from smoother float LR over-trusts detail that real 8-bit inputs do not have.
        levels = 255 if a.dtype == np.uint8 else None
        planes.extend((torch.from_numpy(q.copy()), levels) for q in p)
    return planes, arrs


def split_rows(h, val_fraction):
    """Row index where the held-out (validation) part of an image of height h starts."""
    return h - int(round(h * val_fraction)) if val_fraction > 0 else h


def make_batch(
    planes,
    batch_size,
    max_scale,
    rng,
    device,
    lr_size=LR_PATCH,
    n_query=SAMPLE_Q,
    normalization=AUTHORS_NORM,
    degradation: Degradation | None = None,
):
    """One training batch: LR patches (B,3,48,48) and targets (B,Q,3) in the model's units, coords, cells.

    planes: [(tensor (3, H, W) in [0, 1], levels or None)]; with levels the LR patch is rounded to them.
    degradation: turns the HR crop into the target and the target into the LR patch
    (liif_plugin.training.degradations; None: bicubic). The target is the HR crop itself unless the
    degradation puts camera noise into it (microscopy with truth_read).
    """
    degradation = degradation or Degradation()
    usable = [(p, q) for p, q in planes if min(p.shape[1:]) >= lr_size]
    if not usable:
        raise ValueError(f"every training image is smaller than the {lr_size}x{lr_size} patch; give larger images")
    lrs, coords, cells, gts = [], [], [], []
    for _ in range(batch_size):
        img, levels = usable[rng.randrange(len(usable))]
        H, W = img.shape[1:]
        s_max = min(max_scale, H / lr_size, W / lr_size)
        s = rng.uniform(1.0, max(1.0, s_max))
        size = max(lr_size, min(round(lr_size * s), H, W))
        y, x = rng.randrange(H - size + 1), rng.randrange(W - size + 1)
        hr = img[:, y : y + size, x : x + size]
        if rng.random() < 0.5:
            hr = hr.flip(-1)
        if rng.random() < 0.5:
            hr = hr.flip(-2)
        if rng.random() < 0.5:
            hr = hr.transpose(-2, -1)
        hr = degradation.target(hr.contiguous(), rng)
        lr = degradation.apply(hr, lr_size, rng)
        if levels:  # after the degradation: a sensor's noise is quantized with its signal
            lr = torch.round(lr * levels) / levels
        # Pixel centres of the HR crop in [-1, 1] (same frame as the LR patch), and the HR cell.
        c = -1 + (2 * torch.arange(size, dtype=torch.float32) + 1) / size
        grid = torch.stack(torch.meshgrid(c, c, indexing="ij"), dim=-1).view(-1, 2)
        vals = hr.view(3, -1).t()
        pick = torch.tensor(rng.sample(range(size * size), min(n_query, size * size)))
        if len(pick) < n_query:  # tiny crops: sample with repetition to keep the batch rectangular
            pick = pick[torch.tensor([rng.randrange(len(pick)) for _ in range(n_query)])]
        lrs.append(lr)
        coords.append(grid[pick])
        cells.append(torch.full((n_query, 2), 2 / size))
        gts.append(vals[pick])
    to = lambda t: torch.stack(t).to(device)  # noqa: E731
    return normalization.to_net(to(lrs)), to(coords), to(cells), normalization.to_net(to(gts), dim=-1)


def validation_tiles(arrs, val_fraction, tile=128):
    """Central square tile of the held-out bottom strip of every image, as (3, n, n) in [0, 1] and levels."""
    tiles = []
    for a in arrs:
        strip = a[split_rows(a.shape[0], val_fraction) :]
        n = min(tile, strip.shape[0], strip.shape[1])
        if n >= 24:
            y, x = (strip.shape[0] - n) // 2, (strip.shape[1] - n) // 2
            planes, _ = arrays.to_planes(np.ascontiguousarray(strip[y : y + n, x : x + n]))
            levels = 255 if a.dtype == np.uint8 else None
            tiles.extend((torch.from_numpy(q.copy()), levels) for q in planes)
    return tiles


# -- training ---------------------------------------------------------------------------------


@dataclass
class TrainResult:
    checkpoint: Path
    steps: int
    losses: list = field(default_factory=list)  # (step, mean L1 over the log interval)
    validation: list = field(default_factory=list)  # (step, {condition: {scale: gain over bicubic, dB}})
    seconds: float = 0.0
    device: str = ""  # where it ran, in words (hardware.describe_device): "cpu: AMD EPYC (...), 1 thread"
    bf16: bool = False  # whether the forward pass was autocast to bfloat16
    net: torch.nn.Module | None = None  # the trained network (in eval mode) and its spec, for use without reloading
    spec: dict | None = None
    normalization: object = AUTHORS_NORM


def validate(
    net, spec, tiles, scales, device, normalization=AUTHORS_NORM, degradation: Degradation | None = None, seed: int = 0
) -> dict:
    """Gain of the network over bicubic (dB) on the held-out tiles, per condition and scale.

    Conditions: "clean" (antialiased bicubic LR) and, for a training degradation other than
    bicubic, its name (LR made by that degradation, seeded per tile and scale so every
    validation sees the same inputs). The gain is taken from the mean squared error over all
    tiles (10 log10(MSE_bicubic / MSE_LIIF)), so a flat tile that both reproduce exactly counts
    as a zero error instead of an infinite PSNR.
    """
    from liif_plugin.engine.model import LiifModel

    conditions = {"clean": Degradation()}
    if degradation is not None and type(degradation) is not Degradation:
        conditions[degradation.name] = degradation
    was_training = net.training
    net.eval()
    model = LiifModel(net, spec, "training", device=device, normalization=normalization)
    out: dict = {}
    for cname, deg in conditions.items():
        out[cname] = {}
        for s in scales:
            err = {"liif": 0.0, "bicubic": 0.0}
            b = int(math.ceil(s))
            for i, (hr, levels) in enumerate(tiles):
                n = hr.shape[-1] // int(s) * int(s) if float(s).is_integer() else hr.shape[-1]
                gt = hr[:, :n, :n]
                lr = deg.apply(gt, max(4, round(n / s)), random.Random(f"{seed}-{i}-{s}"))
                if levels:
                    lr = torch.round(lr * levels) / levels
                ref = gt.permute(1, 2, 0).numpy()[b:-b, b:-b].astype(np.float64)
                sr = model.encode(lr.permute(1, 2, 0).numpy()).render((n, n))
                bi = F.interpolate(lr[None], size=(n, n), mode="bicubic", align_corners=False)[0].clamp(0, 1)
                for k, y in (("liif", sr), ("bicubic", bi.permute(1, 2, 0).numpy())):
                    err[k] += float(np.mean((np.asarray(y, np.float64)[b:-b, b:-b] - ref) ** 2))
            out[cname][s] = 10 * math.log10(max(err["bicubic"], 1e-20) / max(err["liif"], 1e-20))
    net.train(was_training)
    return out


def format_validation(v: dict) -> str:
    """'clean x2 +2.95 dB, x4 +1.60 dB; photo x2 +1.10 dB, ...' for the progress bar and the CLI."""
    return "; ".join(
        f"{c} " + ", ".join(f"x{s:g} {g:+.2f} dB" for s, g in by_scale.items()) for c, by_scale in v.items()
    )


def _start(init, encoder, resume) -> tuple[LIIF, dict, Normalization, dict | None, int]:
    """(net, spec, normalization, optimizer spec or None, first step) for a new, fine-tuned or resumed run."""
    if resume is not None:
        ckpt = read_checkpoint(resume)  # validates and gives a clear error for bad files
        net = build_network(ckpt, resume)
        raw = torch.load(resume, map_location="cpu", weights_only=True)
        opt, step = (raw.get("optimizer"), int(raw.get("epoch") or 0)) if "model" in raw else (None, 0)
        return net, ckpt.spec, ckpt.normalization, opt, step
    if init is not None:
        from liif_plugin.models.loading import load_model

        m = load_model(init, device="cpu")
        return m.net, m.spec, m.normalization, None, 0
    spec = scratch_spec(encoder)
    from liif_plugin import models

    return models.make(spec), spec, AUTHORS_NORM, None, 0


def cosine_lr(lr: float, lr_end: float, i: int, steps: int, seconds: float, max_seconds: float | None) -> float:
    """The learning rate of step i (from 0) of a run: half a cosine from lr to lr_end over its step or time budget."""
    done = i / max(1, steps - 1)
    if max_seconds:
        done = max(done, seconds / max_seconds)
    return lr_end + 0.5 * (lr - lr_end) * (1 + math.cos(math.pi * min(1.0, done)))


def train(
    images,
    *,
    out,
    steps=1000,
    init: str | Path | None = "edsr-baseline",
    encoder="edsr-baseline",
    resume=None,
    batch_size=4,
    lr=1e-4,
    lr_end: float | None = None,
    max_scale=4.0,
    val_fraction=0.2,
    val_scales=(2, 4),
    val_every=200,
    save_every=200,
    log_every=10,
    device="auto",
    seed=0,
    max_seconds=None,
    progress=True,
    callback=None,
    degradation: Degradation | DegradeName | None = None,
    bf16: Bf16 = "auto",
    keep=False,
    lr_size=LR_PATCH,
    n_query=SAMPLE_Q,
    log: Path | str | None = None,
):
    """Fine-tune (init = registry name or path) or train from scratch (init=None, encoder=...).

    images: arrays, image files or folders. out: checkpoint path, rewritten every `save_every`
    steps and at the end. resume: a checkpoint from a previous run (its weights, Adam state and step
    count are restored; init and encoder are then ignored). max_seconds: stop early (and save) once
    this much training time has passed, for a fixed compute budget. lr_end: if given, the learning rate
    falls from `lr` to `lr_end` along a half cosine over this run's steps or its time budget, whichever
    runs out first (a short fine-tune ends on small steps); None keeps it constant. degradation: how the HR crop
    becomes the LR patch: "bicubic" (default), "photo", "microscopy" or a
    liif_plugin.training.degradations.Degradation (targets stay clean); validation then also reports the gain
    under it. bf16: "on" / "off" / "auto" (or True / False) to autocast the forward pass to bfloat16;
    "auto" where the device computes bf16 natively (AVX512-BF16 / AMX CPUs, Ampere+ GPUs; emulated
    bf16 is slower than fp32). log: a JSON-lines file that gets one line per log point and
    validation (appended, so a resumed run continues it). keep: also keep every saved
    checkpoint as OUT-stepN.pth, to pick the best one afterwards. lr_size, n_query: the LR patch
    side and the sampled pixels per patch (the authors' 48 and 2304; smaller is cheaper per step on
    a small CPU). Returns a TrainResult.
    """
    from liif_plugin.runtime.hardware import describe_device, native_precisions, pick_device

    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if not (max_seconds is None or max_seconds > 0):  # (nan and negatives too: a budget of no time is no run)
        raise ValueError(f"max_seconds must be a positive number, got {max_seconds}")
    if not math.isfinite(max_scale):
        raise ValueError(f"max_scale must be a finite number, got {max_scale}")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if lr_size < 8 or n_query < 1:
        raise ValueError(
            f"the LR patch must be at least 8 px and the sampled pixels at least 1; got {lr_size}, {n_query}"
        )
    if max_scale < 1:
        raise ValueError(f"max_scale must be at least 1, got {max_scale}")
    if lr_end is not None and not 0 <= lr_end <= lr:
        raise ValueError(f"lr_end must be between 0 and lr ({lr:g}), got {lr_end:g}")
    out = Path(out)
    if out.is_dir() or not out.parent.is_dir():  # found now, not at the first save after an hour of training
        raise ValueError(
            f"--out {out} is a folder; give a file name"
            if out.is_dir()
            else f"the folder of --out {out} does not exist"
        )
    dev = pick_device(device)
    use_bf16 = resolve_bf16(bf16, native_precisions(dev))
    if isinstance(degradation, str):
        degradation = make_degradation(degradation)
    planes, arrs = load_planes(images)
    train_planes = [(p[:, : split_rows(p.shape[1], val_fraction)], q) for p, q in planes]
    tiles = validation_tiles(arrs, val_fraction) if val_fraction > 0 else []

    torch.manual_seed(seed)  # a new network's initial weights
    net, spec, norm, opt_spec, done = _start(init, encoder, resume)
    # Seeded by the run's seed and its first step: a resumed run is reproducible and sees new batches.
    rng = random.Random(f"{seed}-{done}" if done else seed)
    net = net.to(dev).train()
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    if opt_spec and opt_spec.get("sd"):
        opt.load_state_dict(opt_spec["sd"])
        for g in opt.param_groups:
            g["lr"] = lr

    result = TrainResult(out, done, device=describe_device(dev), bf16=use_bf16)
    t0 = time.perf_counter()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=done + steps,
            initial=done,
            desc="liif train",
            unit="step",
            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} steps [{elapsed}, {remaining} left, {rate_fmt}]{postfix}",
            # The run's average rate, as the time budget's step count below uses: with tqdm's default smoothing the
            # two rates differ after a slow stretch and "left" no longer matched the budget (45 min left with 57 to go).
            smoothing=0,
        )
    log = Path(log) if log is not None else None

    def record(**entry):
        if log is not None:
            with open(log, "a") as f:
                f.write(json.dumps({**entry, "seconds": round(time.perf_counter() - t0, 1)}) + "\n")

    def save(step):
        save_checkpoint(out, net, spec, {"name": "adam", "args": {"lr": lr}, "sd": opt.state_dict()}, step, norm)
        if keep:
            save_checkpoint(out.with_name(f"{out.stem}-step{step}{out.suffix}"), net, spec, None, step, norm)

    def check(step):
        if tiles:
            v = validate(net, spec, tiles, val_scales, dev, norm, degradation, seed)
            result.validation.append((step, v))
            record(step=step, validation={c: {str(s): round(g, 3) for s, g in d.items()} for c, d in v.items()})
            if bar is not None:
                bar.write(f"step {step}: validation gain over bicubic: {format_validation(v)}")

    # A run's numbers depend on where and in which precision it ran ("auto" turns bf16 on where the CPU has it):
    # say so before the first step, and keep it in the log that scripts/commit_model.py reads.
    record(run={"first_step": done + 1, "device": result.device, "bf16": use_bf16, "torch": torch.__version__})
    if bar is not None:
        native = "bf16" in native_precisions(dev)
        how = "fp32"
        if use_bf16:  # (asked for with --bf16 on where it is emulated: say so, it is many times slower)
            how = "bf16 autocast (" + ("native here" if native else "emulated here: slow") + "; --bf16 off for fp32)"
        bar.write(f"training on {result.device}, {how}")
    try:
        if done == 0 and val_every:  # (0: only at the end, as --val-every says)
            check(0)
        running, n = 0.0, 0
        for step in range(done + 1, done + steps + 1):
            if lr_end is not None:
                for g in opt.param_groups:
                    g["lr"] = cosine_lr(lr, lr_end, step - done - 1, steps, time.perf_counter() - t0, max_seconds)
            inp, coord, cell, gt = make_batch(
                train_planes,
                batch_size,
                max_scale,
                rng,
                dev,
                normalization=norm,
                degradation=degradation,
                lr_size=lr_size,
                n_query=n_query,
            )
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_bf16):
                pred = query_reference(net, net.encoder(inp), coord, cell)
            loss = F.l1_loss(pred.float(), gt)
            if not math.isfinite(loss.item()):
                raise FloatingPointError(f"the loss became {loss.item()} at step {step}; lower the learning rate")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            running, n = running + loss.item(), n + 1
            if step % log_every == 0 or step == done + steps:
                result.losses.append((step, running / n))
                record(step=step, loss=round(running / n, 5), lr=float(f"{opt.param_groups[0]['lr']:.3g}"))
                if bar is not None:
                    bar.set_postfix(loss=f"{running / n:.4f}")
                running, n = 0.0, 0
            if bar is not None:
                if max_seconds is not None:  # the run ends at its time budget: the bar's total and time left say so
                    fit = round((step - done) * max_seconds / (time.perf_counter() - t0))
                    bar.total = done + max(step - done, min(steps, fit))
                bar.update(1)
            result.steps = step
            if val_every and step % val_every == 0 and step != done + steps:
                check(step)
            if save_every and step % save_every == 0:
                save(step)
            if callback is not None:
                callback(step, loss.item())
            if max_seconds is not None and time.perf_counter() - t0 > max_seconds:
                break
        if n:  # stopped by the time budget between two log points
            result.losses.append((result.steps, running / n))
        check(result.steps)
        save(result.steps)
    finally:
        if bar is not None:
            bar.close()
    result.seconds = time.perf_counter() - t0
    result.net, result.spec, result.normalization = net.eval(), spec, norm
    return result


def export_half(src, dst):
    """Write checkpoint `src` as a weights-only file with fp16 tensors (half the size; loads as fp32).

    The file stays in the authors' format (no optimizer state); fp16 keeps 11 significant bits,
    so the output moves by far less than a grey level (measure it with the committed model's test).
    """
    ckpt = read_checkpoint(src)
    net = build_network(ckpt, src)
    raw = torch.load(src, map_location="cpu", weights_only=True)
    step = raw.get("epoch") if "model" in raw else None
    half = {k: v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()}
    net_half = _StateDictOnly(half)
    return save_checkpoint(dst, net_half, ckpt.spec, None, step, ckpt.normalization)


class _StateDictOnly:
    """Stands in for a network in save_checkpoint: only its state_dict is read."""

    def __init__(self, sd):
        self._sd = sd

    def state_dict(self):
        return self._sd
