"""What this machine computes natively, and which precision each device may use.

The facts come from PyTorch (``torch.backends.cpu.get_cpu_capability()``: the SIMD level its CPU
kernels were dispatched to; CUDA's compute capability) and, on Linux, the CPU flags in
/proc/cpuinfo (``avx512_bf16``, ``amx_bf16``): bf16 matrix products are several times faster than
fp32 only with those instructions; without them PyTorch emulates bf16 and it is slower than fp32.

Precisions: ``fp32`` is exact (the authors' numbers to 1e-4); ``bf16`` and ``fp16`` run the MLP
in 16 bits (coordinates, lookups and the ensemble blend stay fp32); ``auto`` picks the fastest
precision the device runs natively that stays within 2/255 max abs difference and 0.01 dB PSNR
of fp32 on the reference photos (benchmarks/speed.py measures both).
"""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass, field
from typing import Literal

import torch

from liif_plugin.errors import Hint, LiifError

Precision = Literal["auto", "fp32", "bf16", "fp16"]
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
Device = Literal["auto", "cpu", "cuda", "mps"]
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# Compute capability from which a GPU has tensor cores for fp16 (Volta) and bf16 (Ampere).
CUDA_FP16_FAST = (7, 0)
CUDA_BF16_FAST = (8, 0)


@dataclass(frozen=True)
class CpuInfo:
    name: str
    capability: str  # torch's dispatch level: "AVX2", "AVX512", "DEFAULT", ...
    flags: frozenset = field(default_factory=frozenset)

    @property
    def avx512(self) -> bool:
        return "avx512f" in self.flags or self.capability.startswith("AVX512")

    @property
    def avx512_bf16(self) -> bool:
        return "avx512_bf16" in self.flags

    @property
    def amx(self) -> bool:
        return "amx_bf16" in self.flags and "amx_tile" in self.flags

    @property
    def native_bf16(self) -> bool:
        return self.avx512_bf16 or self.amx

    def summary(self) -> str:
        feats = [
            f
            for f, on in (
                ("AVX2", "avx2" in self.flags),
                ("AVX-512", self.avx512),
                ("AVX512-BF16", self.avx512_bf16),
                ("AMX", self.amx),
            )
            if on
        ]
        return f"{self.name} (torch kernels: {self.capability}; {', '.join(feats) or 'no AVX2'})"


@dataclass(frozen=True)
class GpuInfo:
    name: str
    capability: tuple  # (major, minor)
    bf16: bool  # torch.cuda.is_bf16_supported()


def parse_cpuinfo(text: str) -> tuple[str, frozenset]:
    """(model name, flags) of the first processor in /proc/cpuinfo's text."""
    name, flags = "", frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not name:
            name = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = frozenset(value.split())
    return name, flags


@functools.cache
def cpu() -> CpuInfo:
    name, flags = "", frozenset()
    try:
        with open("/proc/cpuinfo") as f:
            name, flags = parse_cpuinfo(f.read())
    except OSError:  # not Linux: torch's own checks of the same instructions
        extra = [
            ("avx512_bf16", "_is_avx512_bf16_supported"),
            ("amx_bf16", "_is_amx_tile_supported"),
            ("amx_tile", "_is_amx_tile_supported"),
        ]
        flags = frozenset(f for f, fn in extra if getattr(torch.cpu, fn, lambda: False)())
    return CpuInfo(name or platform.processor() or platform.machine(), torch.backends.cpu.get_cpu_capability(), flags)


@functools.cache
def gpus() -> tuple:
    if not torch.cuda.is_available():
        return ()
    out = []
    for i in range(torch.cuda.device_count()):
        out.append(
            GpuInfo(
                torch.cuda.get_device_name(i), torch.cuda.get_device_capability(i), bool(torch.cuda.is_bf16_supported())
            )
        )
    return tuple(out)


def mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def native_precisions(device: torch.device, cpu_info: CpuInfo | None = None, gpu: GpuInfo | None = None) -> list[str]:
    """Precisions the device runs at full speed, fastest first (fp32 always last)."""
    device = torch.device(device)
    if device.type == "cpu":
        return (["bf16"] if (cpu_info or cpu()).native_bf16 else []) + ["fp32"]
    if device.type == "cuda":
        g = gpu or gpus()[device.index or 0]
        out = []
        if g.capability >= CUDA_FP16_FAST:
            out.append("fp16")  # as fast as bf16 on tensor cores, with 3 more mantissa bits
        if g.bf16 and g.capability >= CUDA_BF16_FAST:
            out.append("bf16")
        return out + ["fp32"]
    return ["fp32"]  # MPS and others: only the exact path is measured


def auto_precision(device: torch.device, cpu_info: CpuInfo | None = None, gpu: GpuInfo | None = None) -> str:
    return native_precisions(device, cpu_info, gpu)[0]


def interactive_encoder_precision(
    precision: str, device: torch.device, cpu_info: CpuInfo | None = None, gpu: GpuInfo | None = None
) -> str:
    """The encoder's precision for an interactive frame whose MLP runs in `precision` (resolved).

    The exact paths keep the encoder in fp32 (its bf16 copy moves PSNR by about -0.02 dB, outside
    auto's bound; docs/speed.md). A viewer's frames are redrawn at every view and shown at 8 bits,
    so there the encoder follows the MLP into 16 bits where the device runs them natively (bf16 on
    CPUs with AVX512-BF16 or AMX, fp16 / bf16 on CUDA): 1.5-2x faster encodes, within 2/255 of fp32
    (tests/test_precision.py). Emulated bf16 (CPUs without those units) and fp32 stay fp32.
    """
    if precision == "fp32":
        return "fp32"
    return precision if precision in native_precisions(torch.device(device), cpu_info, gpu) else "fp32"


def resolve_precision(
    precision: Precision | str, device: torch.device, cpu_info: CpuInfo | None = None, gpu: GpuInfo | None = None
) -> str:
    """'auto' | 'fp32' | 'bf16' | 'fp16' -> the concrete precision for `device`; refuses what it cannot run."""
    if precision not in PRECISIONS:
        raise LiifError(f"unknown precision {precision!r}", f"use one of {', '.join(PRECISIONS)}")
    device = torch.device(device)
    if precision == "auto":
        return auto_precision(device, cpu_info, gpu)
    if precision == "fp32":
        return precision
    if device.type == "cpu":
        if precision == "fp16":
            raise LiifError(
                "precision 'fp16' runs only on a CUDA GPU",
                Hint(
                    "on the CPU use 'bf16', 'fp32' or 'auto'",
                    napari="on the CPU choose 'fp32' or 'auto' under precision",
                ),
            )
        return precision  # bf16 runs on every CPU; without AVX512-BF16/AMX it is slower than fp32
    if device.type == "cuda":
        g = gpu or gpus()[device.index or 0]
        if precision == "bf16" and not g.bf16:
            raise LiifError(
                f"this GPU ({g.name}) has no bf16 support",
                Hint("use 'fp16', 'fp32' or 'auto'", napari="choose 'fp16', 'fp32' or 'auto' under precision"),
            )
        return precision
    raise LiifError(
        f"precision {precision!r} is supported on CPU and CUDA only",
        Hint(f"use 'fp32' on {device.type}", napari=f"choose 'fp32' under precision on {device.type}"),
    )


def pick_device(device: Device | str | torch.device | None = "auto") -> torch.device:
    """'auto' (CUDA, else MPS, else the CPU), 'cpu', 'cuda', 'cuda:N' or 'mps' -> a torch.device."""
    if isinstance(device, torch.device):
        return device
    if device in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise LiifError(
            f"device {device!r} was asked for but PyTorch sees no CUDA GPU",
            Hint(
                "use device='cpu' or 'auto'",
                cli="use --device cpu or auto",
                napari="choose 'cpu' or 'auto' under device",
            ),
        )
    if device not in ("cpu", "cuda", "mps") and not str(device).startswith("cuda:"):
        raise LiifError(
            f"unknown device {device!r}",
            Hint("use 'auto', 'cpu', 'cuda' or 'mps'", napari="choose a device from the device list"),
        )
    return torch.device(device)


def describe_device(dev: torch.device) -> str:
    """Where a computation runs, in words: the device, and for a CPU its summary and torch's thread count."""
    if dev.type == "cpu":
        n = torch.get_num_threads()
        return f"cpu: {cpu().summary()}, {n} thread{'s' if n != 1 else ''}"
    if dev.type == "cuda":
        found = gpus()
        return f"cuda ({found[dev.index or 0].name})" if found else "cuda"
    return dev.type


def report() -> list[tuple[str, str]]:
    """(what, value) rows for `liif info` and the benchmark headers."""
    c = cpu()
    rows = [
        ("torch", torch.__version__),
        ("python", platform.python_version()),
        ("cpu", c.summary()),
        ("threads", f"{torch.get_num_threads()} torch threads, {os.cpu_count()} logical CPUs"),
        (
            "cpu precision",
            f"auto -> {auto_precision(torch.device('cpu'), c)}; native: "
            f"{', '.join(native_precisions(torch.device('cpu'), c))}",
        ),
    ]
    for i, g in enumerate(gpus()):
        dev = torch.device("cuda", i)
        rows.append(
            (
                f"cuda:{i}",
                f"{g.name}, compute capability {g.capability[0]}.{g.capability[1]}, bf16 {'yes' if g.bf16 else 'no'}",
            )
        )
        rows.append(
            (
                f"cuda:{i} precision",
                f"auto -> {auto_precision(dev, gpu=g)}; native: {', '.join(native_precisions(dev, gpu=g))}",
            )
        )
    if not gpus():
        rows.append(("cuda", "no GPU visible to PyTorch"))
    rows.append(("mps", "available (fp32)" if mps_available() else "not available"))
    return rows
