"""Every published LIIF layout loads: the authors' and OpenMMLab MMagic's EDSR and RDN files.

The real MMagic files cannot be downloaded here, so the tests write synthetic ones exactly as MMagic
saves them: its modules are mirrored below from mmagic/models/editors/liif/liif_net.py
(LIIFEDSRNet, LIIFRDNNet), mlp_refiner.py, edsr/edsr_net.py (ResidualBlockNoBN) and
rdn/rdn_net.py (RDB, DenseLayer), attribute names included, with random weights, and saved as
``{"meta": ..., "state_dict": {"generator." + key: tensor}}``.
"""

import re

import numpy as np
import pytest
import torch
from skimage import data
from torch import nn

import liif_plugin as liif
from liif_plugin import models
from liif_plugin.engine.tiles import TiledField
from liif_plugin.hub import cache
from liif_plugin.models import families
from liif_plugin.models.checkpoint import CheckpointError, load_network, save_checkpoint

TOL = 1e-4
DIV2K_MEAN = torch.tensor([0.4488, 0.4371, 0.4040])


# -- MMagic's modules, mirrored (names are what its state dicts carry) --------------------------


class MLPRefiner(nn.Module):
    def __init__(self, in_dim, out_dim=3, hidden_list=(256, 256, 256, 256)):
        super().__init__()
        layers, last = [], in_dim
        for h in hidden_list:
            layers += [nn.Linear(last, h), nn.ReLU()]
            last = h
        self.layers = nn.Sequential(*layers, nn.Linear(last, out_dim))


class ResidualBlockNoBN(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, 1, 1)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1)
        self.relu = nn.ReLU()


class LIIFEDSRNet(nn.Module):
    """LIIFNet builds encoder then imnet; LIIFEDSRNet lifts the encoder's parts and deletes it."""

    def __init__(self, mid=64, blocks=16):
        super().__init__()
        self.imnet = MLPRefiner(mid * 9 + 4)
        self.conv_first = nn.Conv2d(3, mid, 3, padding=1)
        self.body = nn.Sequential(*[ResidualBlockNoBN(mid) for _ in range(blocks)])
        self.conv_after_body = nn.Conv2d(mid, mid, 3, 1, 1)


class DenseLayer(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.relu = nn.ReLU()


class RDB(nn.Module):
    def __init__(self, c, growth, n_layers):
        super().__init__()
        self.layers = nn.Sequential(*[DenseLayer(c + growth * i, growth) for i in range(n_layers)])
        self.lff = nn.Conv2d(c + growth * n_layers, c, 1)


class LIIFRDNNet(nn.Module):
    def __init__(self, mid=64, blocks=16, n_layers=8, growth=64):
        super().__init__()
        self.imnet = MLPRefiner(mid * 9 + 4)
        self.sfe1 = nn.Conv2d(3, mid, 3, padding=1)
        self.sfe2 = nn.Conv2d(mid, mid, 3, padding=1)
        self.rdbs = nn.ModuleList([RDB(mid, growth, n_layers) for _ in range(blocks)])
        self.gff = nn.Sequential(nn.Conv2d(mid * blocks, mid, 1), nn.Conv2d(mid, mid, 3, padding=1))


def save_mmagic(path, generator):
    sd = {"generator." + k: v.detach().clone() for k, v in generator.state_dict().items()}
    torch.save(
        {"meta": {"mmedit_version": "0.9.0", "iter": 1000000, "config": "model = dict(type='LIIF')"}, "state_dict": sd},
        path,
    )
    return path


def copy_authors_weights(net, generator):
    """Our (authors'-layout) tensors into MMagic's modules, matched by order, not by our name table."""

    def encoder_part(module):
        return [p for n, p in module.named_parameters() if not n.startswith(("imnet.", "sub_mean.", "add_mean."))]

    pairs = list(zip(encoder_part(net.encoder), encoder_part(generator)))
    pairs += list(zip(net.imnet.parameters(), generator.imnet.parameters()))
    assert len(pairs) == len(list(generator.parameters()))
    with torch.no_grad():
        for src, dst in pairs:
            assert src.shape == dst.shape
            dst.copy_(src)
    return generator


def authors_net(encoder):
    torch.manual_seed(1)
    spec = {
        "name": "liif",
        "args": {
            "encoder_spec": {"name": encoder, "args": {"no_upsampling": True}},
            "imnet_spec": {"name": "mlp", "args": {"out_dim": 3, "hidden_list": [256] * 4}},
        },
    }
    return models.make(spec).eval(), spec


@pytest.fixture(scope="module")
def image():
    return np.ascontiguousarray(data.chelsea()[60:164, 120:224])  # 104 x 104 RGB photo


@pytest.fixture(scope="module")
def edsr_pair(tmp_path_factory):
    """(authors'-layout file, MMagic EDSR file) of the same random network."""
    d = tmp_path_factory.mktemp("edsr")
    net, spec = authors_net("edsr-baseline")
    return (
        save_checkpoint(d / "edsr-authors.pth", net, spec),
        save_mmagic(d / "edsr-mmagic.pth", copy_authors_weights(net, LIIFEDSRNet())),
        net,
    )


@pytest.fixture(scope="module")
def rdn_pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("rdn")
    net, spec = authors_net("rdn")
    return save_checkpoint(d / "rdn-authors.pth", net, spec), save_mmagic(
        d / "rdn-mmagic.pth", copy_authors_weights(net, LIIFRDNNet())
    )


def test_each_family_is_detected_and_records_its_normalization(edsr_pair, rdn_pair):
    a_edsr, m_edsr, _ = edsr_pair
    a_rdn, m_rdn = rdn_pair
    for path, family, encoder, norm in [
        (a_edsr, "authors", "edsr-baseline", families.AUTHORS_NORM),
        (m_edsr, "mmagic-edsr", "edsr-baseline", families.DIV2K_MEAN_NORM),
        (a_rdn, "authors", "rdn", families.AUTHORS_NORM),
        (m_rdn, "mmagic-rdn", "rdn", families.AUTHORS_NORM),
    ]:
        net, ckpt = load_network(path)
        assert ckpt.family.name == family and ckpt.normalization == norm
        m = liif.load_model(path, device="cpu")
        assert m.encoder_name == encoder and m.normalization == norm
    assert families.DIV2K_MEAN_NORM.mean == (0.4488, 0.4371, 0.4040) and families.DIV2K_MEAN_NORM.std == (1, 1, 1)


def test_mmagic_rdn_renders_exactly_like_the_same_weights_in_the_authors_layout(rdn_pair):
    a, m = (liif.load_model(p, device="cpu") for p in rdn_pair)
    x = np.ascontiguousarray(data.chelsea()[80:104, 150:178])  # RDN is big: a small image
    fa, fm = a.encode(x), m.encode(x)
    np.testing.assert_array_equal(fm.render((41, 50)), fa.render((41, 50)))
    ref = fm.render_planes((30, 30), (2, 3, 20, 25), reference=True)
    assert np.abs(ref - fa.render_planes((30, 30), (2, 3, 20, 25), reference=True)).max() == 0


def fold_into_mmagic_units(net):
    """The authors' network with MMagic EDSR's units folded into its first conv and last linear layer.

    Authors: x' = (x - 0.5) / 0.5, out = p * 0.5 + 0.5. MMagic: x'' = x - mean, out = p + mean.
    So x' = 2 x'' + (2 mean - 1): conv(x') = (2W) * x'' + (b + sum W (2 mean - 1)) wherever the 3x3
    window lies inside the image (zero padding is 0 in different units at the border), and
    p'' = 0.5 p + 0.5 - mean.
    """
    folded, spec = authors_net("edsr-baseline")
    folded.load_state_dict(net.state_dict())
    conv, last = folded.encoder.head[0], folded.imnet.layers[-1]
    with torch.no_grad():
        shift = 2 * DIV2K_MEAN - 1
        conv.bias += (conv.weight * shift.view(1, 3, 1, 1)).sum(dim=(1, 2, 3))
        conv.weight *= 2
        last.weight *= 0.5
        last.bias.copy_(0.5 * last.bias + 0.5 - DIV2K_MEAN)
    return folded


@pytest.mark.slow
def test_mmagic_edsr_with_folded_units_renders_the_same_away_from_the_border(edsr_pair, image, tmp_path):
    a_path, _, net = edsr_pair
    m_path = save_mmagic(tmp_path / "folded.pth", copy_authors_weights(fold_into_mmagic_units(net), LIIFEDSRNet()))
    a, m = liif.load_model(a_path, device="cpu"), liif.load_model(m_path, device="cpu")
    assert m.normalization == families.DIV2K_MEAN_NORM
    out_a, out_m = (mod.encode(image).render_planes((208, 208)) for mod in (a, m))
    # Features within the encoder's receptive radius of the border see the zero padding, plus 2 latent
    # codes for the 3x3 unfold and the ensemble's neighbour: x2 output pixels beyond that are exact.
    margin = 2 * (a.receptive_radius + 2)
    inner = (slice(None), slice(margin, -margin), slice(margin, -margin))
    assert np.abs(out_a[inner] - out_m[inner]).max() <= TOL
    assert np.abs(out_a - out_m).max() > 2 * TOL  # at the border the two units do differ
    wrong_units = liif.LiifModel(m.net, m.spec, "wrong", device="cpu").encode(image).render_planes((208, 208))
    assert np.abs(wrong_units[inner] - out_a[inner]).max() > 1e-2  # so the units recorded on the model matter
    # Reference decoder, block-wise render (tiled encoder) apply the units the same way.
    ref = m.encode(image).render_planes((208, 208), reference=True)
    assert np.abs(ref - out_m).max() <= TOL
    blocks = TiledField(m, image, cache_bytes=0, block=40).render_planes((208, 208))
    assert np.abs(blocks - out_m).max() <= TOL


def test_training_keeps_the_mmagic_units_and_saves_them(edsr_pair, tmp_path):
    from liif_plugin.training.train import train

    _, m_path, _ = edsr_pair
    out = tmp_path / "tuned.pth"
    img = data.immunohistochemistry()[:120, :120]
    res = train([img], out=out, init=m_path, steps=1, batch_size=2, val_fraction=0, progress=False)
    assert res.normalization == families.DIV2K_MEAN_NORM
    raw = torch.load(out, weights_only=True)
    assert raw["normalization"] == {"mean": [0.4488, 0.4371, 0.4040], "std": [1.0, 1.0, 1.0]}
    reloaded = liif.load_model(out, device="cpu")
    assert reloaded.normalization == families.DIV2K_MEAN_NORM
    x = img[:40, :40]
    in_memory = liif.LiifModel(res.net, res.spec, "t", device="cpu", normalization=res.normalization)
    np.testing.assert_array_equal(in_memory.encode(x).render((60, 60)), reloaded.encode(x).render((60, 60)))


def mutated(path, tmp_path, change):
    ckpt = torch.load(path, weights_only=True)
    change(ckpt["state_dict"])
    p = tmp_path / "bad.pth"
    torch.save(ckpt, p)
    return p


@pytest.mark.parametrize(
    "which, change, words",
    [
        (
            "rdn",
            lambda sd: sd.update({"generator.rdbs.3.lff.weight": torch.zeros(64, 100, 1, 1)}),
            r"mmagic-rdn layout.*1 tensors of the wrong shape "
            r"\(e.g. generator.rdbs.3.lff.weight: \(64, 100, 1, 1\) != \(64, 576, 1, 1\)\)",
        ),
        ("rdn", lambda sd: sd.pop("generator.gff.1.bias"), r"missing 1 keys \(e.g. generator.gff.1.bias\)"),
        (
            "edsr",
            lambda sd: sd.pop("generator.body.5.conv2.bias"),
            r"mmagic-edsr layout.*missing 1 keys \(e.g. generator.body.5.conv2.bias\)",
        ),
        (
            "edsr",
            lambda sd: sd.update({"generator.upsample.0.weight": torch.zeros(1)}),
            r"1 unexpected keys \(e.g. generator.upsample.0.weight\)",
        ),
        ("edsr", lambda sd: sd.update({"generator.imnet.layers.0.weight": torch.zeros(256, 10)}), "wrong shape"),
    ],
)
def test_damaged_mmagic_files_are_refused_with_a_sentence(edsr_pair, rdn_pair, tmp_path, which, change, words):
    src = edsr_pair[1] if which == "edsr" else rdn_pair[1]
    with pytest.raises(CheckpointError, match=words):
        liif.load_model(mutated(src, tmp_path, change), device="cpu")


def test_unknown_layouts_are_refused_with_the_families_listed(tmp_path):
    p = tmp_path / "other.pth"
    torch.save({"state_dict": {"generator.conv0.weight": torch.zeros(3)}}, p)
    with pytest.raises(CheckpointError) as e:
        liif.load_model(p)
    msg = str(e.value)
    assert "not in a LIIF checkpoint format liif-plugin knows" in msg
    assert "the LIIF authors' files" in msg and "MMagic LIIF-EDSR" in msg and "MMagic LIIF-RDN" in msg


def test_published_files_are_added_by_name_and_used(edsr_pair, rdn_pair, tmp_path, monkeypatch):
    monkeypatch.setenv("LIIF_WEIGHTS_DIR", str(tmp_path / "w"))
    # MMagic's RDN under the authors' name is refused with the right command.
    with pytest.raises(ValueError, match="add it as `liif weights add rdn-mmagic"):
        cache.add("rdn", rdn_pair[1])
    # These synthetic files are not the published ones (their sha256 differ): custom stand-ins.
    _, message = cache.add("edsr-mmagic", edsr_pair[1])
    assert "not the published file" in message and cache.status("edsr-mmagic") == "custom"
    m = liif.load_model("edsr-mmagic", device="cpu")
    assert m.normalization == families.DIV2K_MEAN_NORM and m.encoder_name == "edsr-baseline"
    assert liif.upscale(data.camera()[:20, :20], 2, model=m).shape == (40, 40)


def test_published_file_is_verified(model, tmp_path, monkeypatch):
    monkeypatch.setenv("LIIF_WEIGHTS_DIR", str(tmp_path / "w"))
    dest, message = cache.add("edsr-baseline", model.path)
    assert message.startswith("edsr-baseline: verified: the LIIF authors' file")
    assert cache.status("edsr-baseline") == "present" and dest.name == "edsr-baseline-liif.pth"
    # OpenMMLab names its files with the first 8 hex digits of their sha256; that prefix is what is pinned.
    e = cache.entry("rdn-mmagic")
    assert e.matches("22d6fdc8" + "0" * 56) and not e.matches("22d6fdc9" + "0" * 56)


def test_cli_add_then_upscale_by_name(edsr_pair, tmp_path, monkeypatch, capsys):
    from PIL import Image

    from liif_plugin.cli.main import main

    monkeypatch.setenv("LIIF_WEIGHTS_DIR", str(tmp_path / "w"))
    assert main(["weights", "add", "edsr-mmagic", str(edsr_pair[1])]) == 0
    assert "registered it as a custom 'edsr-mmagic' model" in capsys.readouterr().out
    src, out = tmp_path / "in.png", tmp_path / "out.png"
    Image.fromarray(data.astronaut()[:24, :32]).save(src)
    assert main(["upscale", str(src), "-o", str(out), "--scale", "2", "--model", "edsr-mmagic", "--quiet"]) == 0
    assert Image.open(out).size == (64, 48)
    assert main(["weights", "list"]) == 0
    assert re.search(r"edsr-mmagic\s+mmagic-edsr\s+edsr-baseline\s+custom", capsys.readouterr().out)
    bad = tmp_path / "bad.pth"
    torch.save({"state_dict": {"generator.conv_first.weight": torch.zeros(1)}}, bad)
    assert main(["weights", "add", "edsr-mmagic", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "does not match the mmagic-edsr layout" in err and len(err.strip().splitlines()) == 1
