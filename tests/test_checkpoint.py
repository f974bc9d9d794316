"""Checkpoints: the official format round-trips; anything else is refused with a sentence."""

import pickle

import numpy as np
import pytest
import torch

import liif_plugin as liif
from liif_plugin.models.checkpoint import CheckpointError, read_checkpoint, save_checkpoint


def official(model):
    return torch.load(model.path, map_location="cpu", weights_only=True)


class Payload:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_hostile_pickle_is_refused_without_running(tmp_path, model):
    marker = tmp_path / "pwned"
    ckpt = official(model)
    ckpt["epoch"] = Payload(str(marker))
    bad = tmp_path / "hostile.pth"
    torch.save(ckpt, bad)
    with pytest.raises(CheckpointError, match="could run code"):
        liif.load_model(bad)
    assert not marker.exists()
    raw = tmp_path / "raw.pkl"  # a plain (non-zip) pickle too
    raw.write_bytes(pickle.dumps(Payload(str(marker))))
    with pytest.raises(CheckpointError):
        liif.load_model(raw)
    assert not marker.exists()


@pytest.mark.parametrize(
    "content,words",
    [
        (b"", "not a readable"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "not a readable"),
        (b"hello world", "not a readable"),
    ],
)
def test_non_torch_files(tmp_path, content, words):
    p = tmp_path / "x.pth"
    p.write_bytes(content)
    with pytest.raises(CheckpointError, match=words):
        liif.load_model(p)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        liif.load_model(tmp_path / "nope.pth")


def mutate(model, tmp_path, change):
    ckpt = official(model)
    change(ckpt)
    p = tmp_path / "m.pth"
    torch.save(ckpt, p)
    return p


@pytest.mark.parametrize(
    "change,words",
    [
        (lambda c: c["model"]["sd"].pop("imnet.layers.0.weight"), "missing 1 keys"),
        (lambda c: c["model"]["sd"].update({"encoder.extra": torch.zeros(1)}), "unexpected"),
        (lambda c: c["model"]["sd"].update({"imnet.layers.8.weight": torch.zeros(4, 256)}), "wrong shape"),
        (lambda c: c["model"]["args"]["encoder_spec"].update(name="swinir"), "encoder 'swinir'"),
        (lambda c: c["model"]["args"]["encoder_spec"]["args"].update(n_resblocks=10**7), "outside"),
        (lambda c: c["model"]["args"]["imnet_spec"]["args"].update(hidden_list=[10**9]), "imnet"),
        (lambda c: c["model"].update(name="metasr"), "not 'liif'"),
        (lambda c: c.pop("model"), "LIIF checkpoint format"),
        (lambda c: c["model"]["sd"].update({"imnet.layers.0.bias": "text"}), "not tensors"),
    ],
)
def test_wrong_layouts_and_specs(model, tmp_path, change, words):
    with pytest.raises(CheckpointError, match=words):
        liif.load_model(mutate(model, tmp_path, change))


def test_save_and_reload_official_format(model, tmp_path, photo):
    p = save_checkpoint(tmp_path / "copy.pth", model.net, model.spec, epoch=3)
    again = liif.load_model(p)
    assert again.name == "copy"
    raw = torch.load(p, weights_only=True)
    assert set(raw) == {"model", "optimizer", "epoch"} and raw["model"]["name"] == "liif"
    assert np.array_equal(liif.upscale(photo, 2, model=again), liif.upscale(photo, 2, model=model))
    ckpt = read_checkpoint(p)
    assert ckpt.spec["args"]["encoder_spec"]["name"] == "edsr-baseline" and len(ckpt.sd) == 82
