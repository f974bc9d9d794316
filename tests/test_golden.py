"""Numerics: the authors' output, and every fast path against the readable reference."""

from pathlib import Path

import numpy as np
import pytest
import torch

import liif_plugin as liif
from liif_plugin import models
from liif_plugin.engine.model import LiifModel

GOLDEN = Path(__file__).resolve().parent / "data"  # golden outputs live beside the tests


def test_golden_astronaut_x2(model):
    d = np.load(GOLDEN / "visible_astronaut_x2.npz")
    y = liif.upscale(d["lr"], shape=tuple(d["shape"]), model=model)
    assert y.dtype == np.float32 and y.shape == d["out"].shape
    assert np.abs(y - d["out"]).max() <= 1e-4


def test_golden_reference_path(model):
    d = np.load(GOLDEN / "visible_astronaut_x2.npz")
    y = model.encode(d["lr"]).render(tuple(d["shape"]), reference=True)
    assert np.abs(y - d["out"]).max() <= 1e-4


def test_authors_calling_convention(model):
    """net(inp, coord, cell) as the authors call it: normalised input, queries at the output's pixel
    centres with the output's cell size, output * 0.5 + 0.5."""
    d = np.load(GOLDEN / "visible_astronaut_x2.npz")
    h, w = (int(n) for n in d["shape"])
    H, W = d["lr"].shape[:2]
    ys = (torch.arange(h, dtype=torch.float32) * 2 + 1) / h - 1
    xs = (torch.arange(w, dtype=torch.float32) * 2 + 1) / w - 1
    coord = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), -1).view(1, -1, 2)
    cell = torch.tensor([2 / h, 2 / w]).expand_as(coord).contiguous()
    inp = (torch.from_numpy(d["lr"]).permute(2, 0, 1)[None] - 0.5) / 0.5
    with torch.no_grad():
        pred = model.net.float().cpu()(inp, coord, cell)
    out = (pred * 0.5 + 0.5).clamp(0, 1).view(h, w, 3).numpy()
    assert (H, W) != (h, w) and np.abs(out - d["out"]).max() <= 1e-4


CASES = [
    ((80, 112), None),  # x2 anisotropic-free baseline
    ((101, 37), None),  # non-integer and anisotropic
    ((17, 23), None),  # downscaling
    ((64, 64), (3.5, 10.25, 20.0, 30.0)),  # a window, zoomed in
    ((48, 56), (0, 0, 48, 56)),  # explicit whole image
    ((150, 150), (10.0, 10.0, 13.0, 13.0)),  # extreme zoom (x50)
]


@pytest.mark.parametrize("shape,region", CASES)
def test_fast_equals_reference(model, photo, shape, region):
    field = model.encode(photo.astype(np.float32) / 255)
    fast = field.render_planes(shape, region)
    ref = field.render_planes(shape, region, reference=True)
    assert np.abs(fast - ref).max() <= 1e-4


@pytest.mark.parametrize(
    "flags",
    [
        dict(local_ensemble=False),
        dict(feat_unfold=False),
        dict(cell_decode=False),
        dict(local_ensemble=False, feat_unfold=False, cell_decode=False),
    ],
)
def test_fast_equals_reference_for_every_flag(photo, flags):
    """The decoder flags come from the checkpoint; each combination must agree too."""
    torch.manual_seed(0)
    spec = {
        "name": "liif",
        "args": {
            "encoder_spec": {"name": "edsr-baseline", "args": {"no_upsampling": True}},
            "imnet_spec": {"name": "mlp", "args": {"out_dim": 3, "hidden_list": [64, 64]}},
            **flags,
        },
    }
    net = models.make(spec).eval()
    m = LiifModel(net, spec, "random", device="cpu")
    field = m.encode(photo)
    fast = field.render_planes((70, 90), (2, 3, 40, 50))
    ref = field.render_planes((70, 90), (2, 3, 40, 50), reference=True)
    assert np.abs(fast - ref).max() <= 1e-4


def test_render_parts_equal_whole(model, photo):
    field = model.encode(photo)
    whole = field.render_planes((60, 70))
    part = field.render_planes((60, 70), rows=(13, 41), cols=(5, 66))
    assert np.abs(part - whole[:, 13:41, 5:66]).max() <= 1e-6
