"""The committed noise-robust model: it loads offline from the repository, is what the registry
pins, reproduces its recorded benchmark numbers, and the noise warning points to it."""

import importlib.util
import json
import shutil
from importlib import resources
from pathlib import Path

import pytest
import torch

import liif_plugin as liif
from liif_plugin.hub import cache
from liif_plugin.quality import choose
from liif_plugin.quality.noise import RELEASED_MODEL, ROBUST_MODEL, noise_warning

ROOT = Path(__file__).resolve().parent.parent


def raw_entry():
    return json.loads((ROOT / "weights" / "registry.json").read_text())["models"][ROBUST_MODEL]


def benchmark_module():
    spec = importlib.util.spec_from_file_location("noise_model_bench", ROOT / "benchmarks" / "noise_model.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """An empty weights cache and no way to download: what a fresh clone without network has."""
    monkeypatch.setenv("LIIF_WEIGHTS_DIR", str(tmp_path / "empty-cache"))

    def no_network(*a, **k):
        raise AssertionError("the committed model must not be downloaded")

    monkeypatch.setattr(cache, "fetch_member", no_network)
    return tmp_path


COMMITTED = sorted(
    n
    for n, e in json.loads((ROOT / "weights" / "registry.json").read_text())["models"].items()
    if e.get("get", {}).get("committed")
)


def test_every_model_this_project_trained_is_committed_and_listed():
    trained = {
        ROBUST_MODEL,
        "edsr-baseline-jpeg",
        "edsr-baseline-jpeg-blend",
        "edsr-baseline-jpeg-light",
        "edsr-baseline-jpeg-heavy",
        "edsr-baseline-jpeg30-85",
        "edsr-baseline-jpeg60-88",
        "edsr-baseline-jpeg75-95",
        "edsr-baseline-photo",
    }
    assert trained | {"edsr-baseline-microscopy"} <= set(COMMITTED)
    assert {p.stem for p in (ROOT / "weights").glob("*.pth")} == set(COMMITTED)  # no stray or missing file


@pytest.mark.parametrize("name", COMMITTED)
def test_loads_from_the_repository_offline_as_fp32(offline, name):
    e = cache.entry(name)
    path = cache.path_of(name)
    assert e.committed and path.parent == cache.committed_dir() and path.exists()
    assert path.stat().st_size == e.size <= 10 * 2**20 and cache.sha256_of(path) == e.sha256
    assert cache.status(name) == "present" and cache.fetch(name) == path
    sd = torch.load(path, map_location="cpu", weights_only=True)["model"]["sd"]
    assert all(v.dtype == torch.float16 for v in sd.values() if v.is_floating_point())  # stored as fp16
    m = liif.load_model(name, device="cpu")
    assert m.name == name and all(p.dtype == torch.float32 for p in m.net.parameters())
    assert sum(p.numel() for p in m.net.parameters()) == e.parameters
    assert not (offline / "empty-cache" / e.file).exists()  # read in place, never copied to the cache
    assert "BSD-3-Clause" in e.licence and "derivative" in e.licence
    raw = json.loads((ROOT / "weights" / "registry.json").read_text())["models"][name]
    if name != ROBUST_MODEL:  # the models of issue 21 record their whole run
        t = raw["training"]
        assert raw["trained_on"] and t["recipe"] and t["steps"] > 0 and t["cpu"] and t["wall_seconds"] > 0
        assert isinstance(t["seed"], int)
        # Every model of issue 21 serves an auto condition, or is the fine-tuned parent of a blend or the
        # start of a continuation committed beside it (nothing committed is orphaned).
        models = json.loads((ROOT / "weights" / "registry.json").read_text())["models"].values()
        parents = {e.get("training", {}).get("blend", {}).get("tuned") for e in models}
        starts = {e["training"]["from"] for e in models if e.get("get", {}).get("committed") and "training" in e}
        assert raw["auto_for"] or name in parents | starts


def test_reproduces_its_recorded_numbers():
    recorded = raw_entry()["check"]["psnr"]
    got = benchmark_module().check_numbers(liif.load_model(ROBUST_MODEL, device="cpu"))
    assert set(got) == set(recorded)
    for k, v in recorded.items():
        assert got[k] == pytest.approx(v, abs=0.05), (k, got[k], v)


def test_damaged_or_missing_committed_file_gives_one_sentence(tmp_path, monkeypatch):
    e = cache.entry(ROBUST_MODEL)
    monkeypatch.setattr(cache, "committed_dir", lambda: tmp_path)
    with pytest.raises(FileNotFoundError, match="reinstall liif-plugin or restore"):
        liif.load_model(ROBUST_MODEL, device="cpu")
    shutil.copy(Path(str(resources.files("liif_plugin._registry"))) / e.file, tmp_path / e.file)
    with open(tmp_path / e.file, "r+b") as f:
        f.seek(1000)
        f.write(b"\0" * 16)
    assert cache.status(ROBUST_MODEL) == "corrupt"
    with pytest.raises(ValueError, match="git checkout weights/"):
        liif.load_model(ROBUST_MODEL, device="cpu")


def test_its_name_cannot_be_taken_by_another_file(tmp_path, monkeypatch):
    monkeypatch.setenv("LIIF_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="add your file under another name"):
        cache.add(ROBUST_MODEL, cache.path_of(ROBUST_MODEL))


def test_the_noise_warning_points_to_auto_and_the_noise_trained_models():
    msg = noise_warning(RELEASED_MODEL, 0.05, "pass --detail 0.3")
    assert "model 'auto'" in msg and "'edsr-baseline-microscopy' for micrographs" in msg  # what auto gives them
    assert f"'{choose.model_for('noisy-photo')}' for photos" in msg and "-photo" in msg
    assert noise_warning(ROBUST_MODEL, 0.05) is None  # no warning once it is in use
