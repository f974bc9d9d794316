from pathlib import Path

import numpy as np
import pytest

# Golden outputs and checkpoint layouts live beside the tests: a clone of this repository is enough.
DATA = Path(__file__).resolve().parent / "data"
GOLDEN = DATA


@pytest.fixture
def load_script(monkeypatch):
    """load_script(NAME): scripts/NAME.py as a module, scripts/ on sys.path for its imports (this test only)."""
    import importlib.util

    scripts = Path(__file__).resolve().parent.parent / "scripts"
    monkeypatch.syspath_prepend(str(scripts))

    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"_{name}", scripts / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture(scope="session")
def model():
    """The real pretrained EDSR-baseline-LIIF (fetched by `make test` before pytest runs)."""
    import liif_plugin as liif

    return liif.load_model("edsr-baseline", device="cpu")


@pytest.fixture(scope="session")
def photo():
    """A small real photo crop (scikit-image's astronaut), uint8 RGB."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[120:168, 180:236])


@pytest.fixture(scope="session")
def read_noise_micrograph():
    """A 96-px 16-bit micrograph (scikit-image's cell, stretched) with camera read noise of 1.5 % of its range:
    what model="auto" gives the light microscopy tier."""
    from skimage import data

    c = data.cell()[200:296, 200:296].astype(np.float64)
    c = (c - c.min()) / (c.max() - c.min())
    return np.rint(500 + c * 4000 + np.random.default_rng(0).normal(0, 60, c.shape)).astype(np.uint16)


TINY_SPEC = {
    "name": "liif",
    "args": {
        "encoder_spec": {"name": "edsr-baseline", "args": {"no_upsampling": True, "n_resblocks": 2, "n_feats": 16}},
        "imnet_spec": {"name": "mlp", "args": {"out_dim": 3, "hidden_list": [32, 32]}},
    },
}


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    """A small LIIF checkpoint with random weights, written in the authors' file format.

    For tests that check plumbing (shapes, dtypes, files, threads) rather than pictures: it needs no
    download and encodes ~50x faster than the released model.
    """
    import torch

    from liif_plugin import models
    from liif_plugin.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    net = models.make(TINY_SPEC)
    return save_checkpoint(tmp_path_factory.mktemp("tiny") / "tiny-liif.pth", net, TINY_SPEC, epoch=0)


@pytest.fixture(scope="session")
def tiny_model(tiny_model_path):
    import liif_plugin as liif

    return liif.load_model(tiny_model_path, device="cpu")


@pytest.fixture(autouse=True)
def _own_config_dir(tmp_path, monkeypatch):
    """Each test starts with no remembered napari widget settings (napari_plugin._settings)."""
    monkeypatch.setenv("LIIF_CONFIG_DIR", str(tmp_path / "config"))
