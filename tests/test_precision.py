"""Precision ('fp32' exact, 'bf16', 'fp16', 'auto'), hardware detection and the convolution layout.

bf16 runs on every CPU (emulated, slowly, without AVX512-BF16/AMX), so its error bound against fp32
is tested here on small inputs with the real weights. fp16 runs only on CUDA; no GPU is needed to
test the selection logic, and the fp16 decoder arithmetic itself runs on the CPU too.
"""

import re

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

import liif_plugin as liif
from liif_plugin.cli.main import main
from liif_plugin.engine.decoder import first_layer_map, query_fast
from liif_plugin.runtime import hardware, memory_format

# The bound `auto` must keep on the reference photos (max abs difference on [0, 1] output).
AUTO_MAX_DIFF = 2 / 255

AMX_XEON = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu sse2 avx avx2 avx512f avx512bw avx512_bf16 amx_bf16 amx_tile amx_int8
"""
AVX512_BF16_ONLY = "model name\t: Intel Cooper Lake\nflags\t\t: avx2 avx512f avx512_bf16\n"
AVX2_EPYC = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse2 avx avx2 fma\n"
CPU = torch.device("cpu")
CUDA = torch.device("cuda", 0)


def cpu_from(text, capability):
    name, flags = hardware.parse_cpuinfo(text)
    return hardware.CpuInfo(name, capability, flags)


# -- hardware detection and what auto picks ----------------------------------------------------
def test_cpuinfo_flags_decide_native_bf16():
    amx = cpu_from(AMX_XEON, "AVX512")
    assert amx.name.startswith("Intel(R) Xeon(R) Platinum") and amx.amx and amx.avx512_bf16 and amx.avx512
    assert hardware.native_precisions(CPU, amx) == ["bf16", "fp32"]
    assert hardware.auto_precision(CPU, amx) == "bf16"
    assert hardware.auto_precision(CPU, cpu_from(AVX512_BF16_ONLY, "AVX512")) == "bf16"
    epyc = cpu_from(AVX2_EPYC, "AVX2")
    assert not epyc.native_bf16 and not epyc.avx512
    assert hardware.native_precisions(CPU, epyc) == ["fp32"]
    assert hardware.resolve_precision("auto", CPU, epyc) == "fp32"
    assert "AVX2" in epyc.summary() and "AMX" in amx.summary()


def test_this_machine_is_detected_from_its_own_flags():
    """The facts come from /proc/cpuinfo and torch; auto is bf16 exactly when the CPU has bf16 units."""
    with open("/proc/cpuinfo") as f:
        lines = [line for line in f if line.startswith(("flags", "Features"))]  # x86 / ARM
    flags = lines[0].split(":", 1)[1].split() if lines else []
    c = hardware.cpu()
    assert c.capability == torch.backends.cpu.get_cpu_capability()
    native = "avx512_bf16" in flags or ("amx_bf16" in flags and "amx_tile" in flags)
    assert hardware.auto_precision(CPU) == ("bf16" if native else "fp32")


def test_cuda_selection_logic():
    ampere = hardware.GpuInfo("A100", (8, 0), True)
    turing = hardware.GpuInfo("T4", (7, 5), False)
    pascal = hardware.GpuInfo("GTX 1080", (6, 1), False)
    assert hardware.native_precisions(CUDA, gpu=ampere) == ["fp16", "bf16", "fp32"]
    assert hardware.auto_precision(CUDA, gpu=ampere) == "fp16"
    assert hardware.native_precisions(CUDA, gpu=turing) == ["fp16", "fp32"]
    assert hardware.auto_precision(CUDA, gpu=pascal) == "fp32"
    assert hardware.resolve_precision("bf16", CUDA, gpu=ampere) == "bf16"
    assert hardware.resolve_precision("fp16", CUDA, gpu=pascal) == "fp16"  # asked for: runs, if slowly
    with pytest.raises(ValueError, match="no bf16 support"):
        hardware.resolve_precision("bf16", CUDA, gpu=turing)


@pytest.mark.parametrize(
    "precision, device, match",
    [
        ("fp16", "cpu", "only on a CUDA GPU"),
        ("fp8", "cpu", "unknown precision"),
        ("bf16", "mps", "CPU and CUDA only"),
    ],
)
def test_refused_precisions_say_what_to_use(precision, device, match):
    with pytest.raises(ValueError, match=match):
        hardware.resolve_precision(precision, torch.device(device))


def test_load_model_precision_and_half_alias(tiny_model_path):
    assert liif.load_model(tiny_model_path, device="cpu").precision == "fp32"
    assert liif.load_model(tiny_model_path, device="cpu", precision="bf16").precision == "bf16"
    assert liif.load_model(tiny_model_path, device="cpu", precision="auto").precision == hardware.auto_precision(CPU)
    with pytest.raises(ValueError, match="fp16.*only on a CUDA GPU"):
        liif.load_model(tiny_model_path, device="cpu", half=True)  # alias of precision='fp16'
    with pytest.raises(ValueError, match="half=True means precision='fp16'"):
        liif.load_model(tiny_model_path, device="cpu", precision="bf16", half=True)


# -- the bf16 and fp16 paths against exact fp32, real weights -----------------------------------
@pytest.fixture(scope="module")
def crop():
    return np.ascontiguousarray(data.astronaut()[100:124, 180:204])  # 24x24 face detail


def test_bf16_stays_within_the_auto_bound(model, crop):
    """bf16 on the MLP (lookups, coordinates and blend in fp32) changes a x3 render by < 2/255."""
    exact = model.encode(crop).render_planes((72, 72))
    f16 = model.encode(crop, precision="bf16")
    assert f16.precision == "bf16"
    low = f16.render_planes((72, 72))
    assert f16._pre.dtype == torch.bfloat16  # the MLP really ran in bf16
    diff = np.abs(low - exact)
    assert 0 < diff.max() <= AUTO_MAX_DIFF
    psnr = 10 * np.log10(1 / np.mean(diff**2))
    assert psnr > 55  # measured 65 dB on 96x96 photo crops (docs/speed.md)


def test_upscale_takes_precision_and_defaults_to_exact(model, crop):
    exact = model.encode(crop).render((40, 40), reference=True)
    assert np.abs(liif.upscale(crop, shape=(40, 40), model=model).astype(int) - exact.astype(int)).max() <= 1
    low = liif.upscale(crop, shape=(40, 40), model=model, precision="bf16")
    assert np.array_equal(low, model.encode(crop, "bf16").render((40, 40)))
    assert np.abs(low.astype(int) - exact.astype(int)).max() <= 2  # 2/255 on uint8


def test_fp16_decoder_arithmetic_on_the_cpu(model, crop):
    """What CUDA's fp16 runs: the first-layer map and MLP in fp16, lookups and output in fp32."""
    field = model.encode(crop)
    grid, (cy, cx) = field.query_grid(30, 33, (0.0, 0.0, 24.0, 24.0), (0, 30), (0, 33))
    coord = grid.reshape(1, -1, 2)
    cell = torch.tensor([cy, cx]).expand_as(coord)
    pre = first_layer_map(model.net, field.feat)
    with torch.inference_mode():
        full = query_fast(model.net, pre, coord, cell, (24, 24))
        half = query_fast(model.net, pre.half(), coord, cell, (24, 24))
    assert half.dtype == torch.float32
    err = (half - full).abs().max().item() * 0.5  # on the [0, 1] scale
    assert 0 < err < 1e-3  # 3 more mantissa bits than bf16: measured 4e-4 max on photo crops


# -- convolution layout -------------------------------------------------------------------------
def test_channels_last_encoder_gives_the_same_features(model, crop):
    assert model.layout == memory_format.LAYOUTS["cpu"]
    assert model.net.encoder.head[0].weight.is_contiguous(memory_format=model.layout)
    x = torch.from_numpy(crop.transpose(2, 0, 1)[None].astype(np.float32) / 255) * 2 - 1
    with torch.inference_mode():
        a = model.net.encoder(x.contiguous(memory_format=torch.channels_last))
        b = model.net.encoder(x.contiguous())
        pa = first_layer_map(model.net, a, torch.channels_last)
        pb = first_layer_map(model.net, b, torch.contiguous_format)
    assert (a - b).abs().max() <= 1e-4 and (pa - pb).abs().max() <= 1e-4
    assert pa.shape == (1, 24, 24, model.hidden) and pa.is_contiguous()


def test_fused_encoder_equals_the_module(model, crop):
    """The CPU encoder's fused convolutions (conv + ReLU, conv + residual add) give the module's
    features: real weights in both layouts, and an EDSR with res_scale 0.1 (the unfused branch)."""
    from liif_plugin.engine import encoder
    from liif_plugin.models.edsr import EDSR

    x = torch.from_numpy(crop.transpose(2, 0, 1)[None].astype(np.float32) / 255) * 2 - 1
    torch.manual_seed(0)
    scaled = EDSR(n_resblocks=3, n_feats=16, res_scale=0.1).eval()
    with torch.inference_mode():
        for enc, fmt in (
            (model.net.encoder, torch.channels_last),
            (model.net.encoder, torch.contiguous_format),
            (scaled, torch.contiguous_format),
        ):
            xf = x.contiguous(memory_format=fmt)
            fused, plain = encoder.run_encoder(enc, xf), enc(xf)
            assert fused.shape == plain.shape and plain.abs().max() > 0.1
            assert (fused - plain).abs().max() <= 1e-5
    # With gradients on (training) the module itself runs.
    assert encoder.run_encoder(scaled, x).requires_grad


def test_layout_choice_is_the_measured_faster_one():
    import time

    def probe(fmt):  # contiguous is made slower: the measurement must notice
        time.sleep(0.02 if fmt == torch.contiguous_format else 0.0)

    assert memory_format.fastest(probe, "cpu") == torch.channels_last

    def probe2(fmt):
        time.sleep(0.02 if fmt == torch.channels_last else 0.0)

    assert memory_format.fastest(probe2, "cpu") == torch.contiguous_format


def test_measuring_the_layout_leaves_the_network_trainable(monkeypatch):
    """On a device whose layout is measured (CUDA), the probe must not turn the weights into inference
    tensors: `liif train` validates through LiifModel and then trains the same network. Seen on an
    H200: a run whose measurement picked channels_last failed its first backward pass."""
    from liif_plugin.engine.model import LiifModel
    from liif_plugin.models.checkpoint import load_network

    real_fastest = memory_format.fastest

    def measured_channels_last(probe, device):  # both layouts really probed; channels_last "won"
        real_fastest(probe, device, repeats=1)
        return torch.channels_last

    net, ck = load_network(liif.get_model("edsr-baseline-microscopy-light", device="cpu").path)
    monkeypatch.setattr(memory_format, "LAYOUTS", {})  # measure, as on a device the table lacks
    monkeypatch.setattr(memory_format, "fastest", measured_channels_last)
    model = LiifModel(net, ck.spec, "training", device="cpu")
    assert model.layout == torch.channels_last
    assert not any(p.is_inference() for p in net.parameters())
    net.train()
    net.encoder(torch.rand(1, 3, 16, 16)).mean().backward()  # failed with "Inference tensors cannot be saved"
    assert net.encoder.head[0].weight.grad is not None


# -- the faces ------------------------------------------------------------------------------------
def test_cli_precision(tmp_path, photo, capsys):
    Image.fromarray(photo[:16, :16]).save(tmp_path / "in.png")
    assert (
        main(
            [
                "upscale",
                str(tmp_path / "in.png"),
                "-o",
                str(tmp_path / "fp16.png"),
                "--scale",
                "2",
                "--device",
                "cpu",
                "--precision",
                "fp16",
                "--quiet",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "only on a CUDA GPU" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "fp16.png").exists()
    for p in ("fp32", "bf16"):
        assert (
            main(
                [
                    "upscale",
                    str(tmp_path / "in.png"),
                    "-o",
                    str(tmp_path / f"{p}.png"),
                    "--scale",
                    "2",
                    "--device",
                    "cpu",
                    "--precision",
                    p,
                    "--quiet",
                ]
            )
            == 0
        )
    a = np.asarray(Image.open(tmp_path / "fp32.png")).astype(int)
    b = np.asarray(Image.open(tmp_path / "bf16.png")).astype(int)
    assert a.shape == b.shape == (32, 32, 3) and np.abs(a - b).max() <= 2


def test_liif_info(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert torch.__version__ in out
    assert hardware.cpu().capability in out
    assert re.search(rf"^cpu precision +auto -> {hardware.auto_precision(CPU)};", out, re.M)
    # What auto picks on this machine: the CPU here, CUDA on a GPU machine (this line once assumed the CPU).
    device = hardware.pick_device("auto")
    assert re.search(rf"^auto picks +device {device}, precision {hardware.auto_precision(device)}$", out, re.M)
    assert f"{torch.get_num_threads()} torch threads" in out


def test_dask_precision(tiny_model, crop):
    import liif_plugin.sources.dask as ld

    x = crop.astype(np.float32) / 255
    got = ld.upscale(x, scale=2, model=tiny_model, block=16, precision="bf16").compute()
    want = liif.upscale(x, scale=2, model=tiny_model, precision="bf16")
    exact = liif.upscale(x, scale=2, model=tiny_model)
    assert np.abs(got - want).max() <= 1e-6
    assert 0 < np.abs(got - exact).max() <= AUTO_MAX_DIFF
    with pytest.raises(ValueError, match="only on a CUDA GPU"):
        ld.upscale(x, scale=2, model=tiny_model, precision="fp16")


def test_zoom_widget_defaults_to_auto(tiny_model, crop):
    from liif_plugin.notebook import ZoomWidget

    w = ZoomWidget(crop, model=tiny_model)
    try:
        assert w.precision == hardware.auto_precision(CPU)
        assert w.field.precision == w.precision
    finally:
        w.close()
    w = ZoomWidget(crop, model=tiny_model, precision="bf16")
    try:
        assert w.field.precision == "bf16"
        assert w.render_viewport("liif").shape[2] == 3
    finally:
        w.close()
    with pytest.raises(ValueError, match="only on a CUDA GPU"):
        ZoomWidget(crop, model=tiny_model, precision="fp16")
