"""The networks we build have exactly the official checkpoints' keys and shapes."""

import json
from pathlib import Path

import pytest
import torch

from liif_plugin import models
from liif_plugin.models.checkpoint import build_network, read_checkpoint

GOLDEN = Path(__file__).resolve().parent / "data"  # golden outputs live beside the tests

LAYOUTS = json.loads((GOLDEN / "official_checkpoint_layouts.json").read_text())


@pytest.mark.parametrize("arch", sorted(LAYOUTS))
def test_state_dict_layout_matches_official(arch):
    spec = LAYOUTS[arch]["model_spec_without_sd"]
    with torch.device("meta"):
        net = models.make(spec)
    got = {k: list(v.shape) for k, v in net.state_dict().items()}
    assert got == LAYOUTS[arch]["state_dict_shapes"]
    assert sum(v.numel() for v in net.state_dict().values()) == LAYOUTS[arch]["n_params"]


def test_pretrained_file_loads_strictly(model):
    ckpt = read_checkpoint(model.path)
    net = build_network(ckpt)
    assert ckpt.family.name == "authors" and not (set(net.state_dict()) ^ set(ckpt.sd))
    assert model.encoder_name == "edsr-baseline"
    assert sum(p.numel() for p in net.parameters()) == LAYOUTS["edsr-baseline"]["n_params"]


def test_receptive_radius_covers_encoder(model):
    """Changing one input pixel changes no feature farther than the declared radius."""
    enc = model.net.encoder
    r = enc.receptive_radius
    n = 2 * r + 9
    x = torch.zeros(1, 3, n, n)
    y = x.clone()
    y[0, :, 0, 0] = 1.0
    with torch.inference_mode():
        d = (enc(x) - enc(y)).abs().amax(dim=1)[0]
    assert d.max() > 0
    assert d[r + 1 :, :].max() == 0 and d[:, r + 1 :].max() == 0
