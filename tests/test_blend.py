"""Weight-space blends (liif_plugin.training.blend) and the committed JPEG blend that model='auto' uses."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import liif_plugin as liif
from liif_plugin import models
from liif_plugin.hub import cache
from liif_plugin.models.checkpoint import load_network, save_checkpoint
from liif_plugin.quality import choose
from liif_plugin.training.blend import blend_networks, save_blend

ROOT = Path(__file__).resolve().parent.parent
SPEC = {
    "name": "liif",
    "args": {
        "encoder_spec": {"name": "edsr-baseline", "args": {"no_upsampling": True, "n_resblocks": 1, "n_feats": 8}},
        "imnet_spec": {"name": "mlp", "args": {"out_dim": 3, "hidden_list": [16]}},
    },
}


def tiny(tmp_path, seed, spec=SPEC):
    torch.manual_seed(seed)
    return save_checkpoint(tmp_path / f"tiny-{seed}.pth", models.make(spec), spec, epoch=0)


def test_blend_is_the_tensorwise_mix_of_its_parents(tmp_path):
    a, b = tiny(tmp_path, 1), tiny(tmp_path, 2)
    sa, sb = (load_network(p)[0].state_dict() for p in (a, b))
    for alpha in (0.0, 0.3, 1.0):
        net, spec, _ = blend_networks(a, b, alpha)
        for k, v in net.state_dict().items():
            assert torch.allclose(v, alpha * sa[k] + (1 - alpha) * sb[k], atol=1e-6), (alpha, k)
        assert spec == load_network(a)[1].spec
    out = save_blend(a, b, 0.3, tmp_path / "mix.pth")
    m = liif.load_model(out, device="cpu")  # an ordinary checkpoint: every face can load it
    y = m.encode(np.zeros((8, 8, 3), np.uint8)).render((16, 16))
    assert y.shape == (16, 16, 3)


def test_blend_refuses_unlike_models_and_extrapolation(tmp_path):
    a = tiny(tmp_path, 1)
    wide = json.loads(json.dumps(SPEC))
    wide["args"]["imnet_spec"]["args"]["hidden_list"] = [24]
    b = tiny(tmp_path, 3, wide)
    with pytest.raises(ValueError, match="different architectures"):
        blend_networks(a, b, 0.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        blend_networks(a, tiny(tmp_path, 2), 1.25)


REGISTRY = json.loads((ROOT / "weights" / "registry.json").read_text())["models"]
BLENDS = sorted(n for n, e in REGISTRY.items() if "blend" in e.get("training", {}))


def test_the_trained_models_for_lighter_jpeg_photos_are_blends():
    assert {"edsr-baseline-jpeg-blend", "edsr-baseline-jpeg-light", "edsr-baseline-jpeg-heavy"} <= set(BLENDS)


@pytest.mark.parametrize("name", BLENDS)
def test_committed_blend_is_its_recorded_mix_of_two_registry_models(name):
    """The file in weights/ is what its registry entry says: alpha * the fine-tune + (1 - alpha) * its start
    (the released weights, or for the faint-noise model the committed light one), to fp16 precision; a
    swapped or re-trained file fails here."""
    rec = REGISTRY[name]["training"]["blend"]
    alpha = rec["alpha"]
    assert 0 < alpha < 1 and REGISTRY[rec["tuned"]]["get"]["committed"]
    assert rec["start"] == "edsr-baseline" or REGISTRY[rec["start"]]["get"]["committed"]
    # The selection table it was chosen from: alpha is the best mean over the selection cases (or, for an alpha
    # chosen per input by the chooser's calibration, one that beats the fine-tune alone there too).
    sel = {float(a): g["selection"] for a, g in rec["gains"].items()}
    assert sel[alpha] > sel[1.0]
    if rec.get("chosen_elsewhere"):
        assert rec["selected_on"].startswith("scripts/calibrate_chooser.py"), name
    else:
        assert max(sel, key=sel.get) == alpha
    want, _, _ = blend_networks(cache.path_of(rec["tuned"]), liif.load_model(rec["start"]).path, alpha)
    have = liif.load_model(name, device="cpu").net.state_dict()
    for k, v in want.state_dict().items():
        assert torch.allclose(have[k], v, rtol=2e-3, atol=2e-4), k


@pytest.mark.parametrize(
    ("condition", "model", "parent"),
    [
        ("jpeg-light", "edsr-baseline-jpeg-light", "edsr-baseline-jpeg"),
        ("jpeg", "edsr-baseline-jpeg-blend", "edsr-baseline-jpeg"),
        ("jpeg-heavy", "edsr-baseline-jpeg-heavy", "edsr-baseline-jpeg"),
    ],
)
def test_auto_gives_each_jpeg_tier_its_model(condition, model, parent):
    """Each tier gets its own blend (no longer the base fine-tune); lighter JPEG keeps more of the released
    weights; each blend's tuned parent is a committed continuation of edsr-baseline-jpeg (the alphas follow the
    recorded tables: each blend's best alpha on its tier's qualities)."""
    assert choose.model_for(condition) == model and cache.entry(model).auto_for == (condition,)
    assert condition not in cache.entry(parent).auto_for
    tiers = ("edsr-baseline-jpeg-light", "edsr-baseline-jpeg-blend", "edsr-baseline-jpeg-heavy")
    alphas = [REGISTRY[n]["training"]["blend"]["alpha"] for n in tiers]
    assert alphas[0] < alphas[1] <= alphas[2] < 1
    tuned = REGISTRY[model]["training"]["blend"]["tuned"]
    for _ in range(5):  # the chain of committed continuations back to the base fine-tune
        if tuned == "edsr-baseline-jpeg":
            break
        assert REGISTRY[tuned]["get"]["committed"]
        tuned = REGISTRY[tuned]["training"]["from"]
    assert tuned == "edsr-baseline-jpeg"


def test_blend_weights_scores_once_and_reuses_its_table(load_script, tmp_path, monkeypatch, capsys):
    """scripts/blend_weights.py --table: the first run scores every alpha and case and writes the table; a
    later run (another --select, as for the JPEG tiers) reads it and scores nothing; a table of other
    models or cases is refused."""
    bw = load_script("blend_weights")
    a, b = tiny(tmp_path, 1), tiny(tmp_path, 2)
    table = tmp_path / "gains.json"
    monkeypatch.setattr(bw, "UNSEEN", ("coffee", "brick"))  # two crops keep it quick; the tiny nets are random
    common = [str(a), str(b), "--alphas", "0.5", "1", "--cases", "jpeg90", "jpeg50", "--table", str(table)]
    assert bw.main([*common, "--select", "jpeg90"]) == 0
    saved = json.loads(table.read_text())
    assert set(saved["gains"]) == {"0.5", "1"} and set(saved["gains"]["1"]) == {"jpeg90", "jpeg50"}
    scored = capsys.readouterr().out

    def no_scoring(*args, **kwargs):
        raise AssertionError("scored again")

    monkeypatch.setattr(bw, "squared_errors", no_scoring)
    assert bw.main([*common, "--select", "jpeg50"]) == 0
    again = capsys.readouterr().out
    row = next(line for line in scored.splitlines() if line.startswith("| 1 |"))
    assert row.rsplit("|", 2)[0] in again  # the same gains per case, read back
    assert "selected on jpeg50" in again
    with pytest.raises(SystemExit):
        bw.main(
            [
                str(b),
                str(a),
                "--alphas",
                "0.5",
                "--cases",
                "jpeg90",
                "jpeg50",
                "--select",
                "jpeg90",
                "--table",
                str(table),
            ]
        )
    assert "scored for other models" in capsys.readouterr().err


def test_the_light_photo_model_records_where_its_alpha_was_chosen(load_script, tmp_path, capsys):
    """edsr-baseline-photo-light's alpha and split came from scripts/calibrate_chooser.py photo-light (per input the
    chooser reads as a noisy photo), not from blend_weights' own per-case table: --chosen with --selected-on
    commits that alpha and records how it was chosen."""
    bw = load_script("blend_weights")
    a, b = tiny(tmp_path, 1), tiny(tmp_path, 2)
    for bad, says in (
        (["--selected-on", "elsewhere"], "go together"),
        (["--chosen", "0.25", "--selected-on", "x"], "not one of"),
    ):
        with pytest.raises(SystemExit):
            bw.main([str(a), str(b), "--alphas", "0.5", "1", *bad])
        assert says in capsys.readouterr().err
    blend = REGISTRY["edsr-baseline-photo-light"]["training"]["blend"]
    assert (blend["tuned"], blend["start"], blend["alpha"]) == ("edsr-baseline-photo", "edsr-baseline", 0.5)
    assert "calibrate_chooser.py photo-light" in blend["selected_on"] and blend["chosen_elsewhere"] is True
    # blend_weights' own per-case table on the crops is kept beside it: 0.5 is not its best at 1 % noise.
    assert len(blend["gains"]) == 5 and blend["gains"]["0.25"]["noise1"] > blend["gains"]["0.5"]["noise1"]
    assert REGISTRY["edsr-baseline-photo-light"]["auto_for"] == ["noisy-photo-light"]


def test_the_light_microscopy_model_is_a_blend_chosen_on_frames_no_model_saw(load_script):
    """edsr-baseline-microscopy-light mixes the microscopy model with the released weights for
    micrographs whose noise is the camera's own; its alpha was chosen on time-lapse frames the
    microscopy model's training left out, with read noise in the truth (scripts/blend_weights.py --micro)."""
    bw, training = load_script("blend_weights"), load_script("noise_training_data")
    assert set(bw.MICRO_FRAMES).isdisjoint(training.TIMELAPSE_FRAMES)
    rec = REGISTRY["edsr-baseline-microscopy-light"]["training"]["blend"]
    assert rec["tuned"] == "edsr-baseline-microscopy" and "time-lapse frames (5, 15, 25)" in rec["selected_on"]
    assert 0 < rec["alpha"] < 0.5  # mostly the released weights: it keeps the camera's noise
    assert cache.entry("edsr-baseline-microscopy-light").auto_for == ("noisy-microscopy-light",)
    assert choose.model_for("noisy-microscopy-light") == "edsr-baseline-microscopy-light"
    assert choose.model_for("noisy-microscopy") == "edsr-baseline-microscopy"


def test_the_faint_noise_model_blends_a_committed_fine_tune_on_noisy_truths():
    """edsr-baseline-microscopy-faint mixes a fine-tune on truths that carry camera noise (committed as
    edsr-baseline-microscopy-camera, its run recorded) with the light model; the alpha was chosen on the
    same held-out time-lapse crops as the light model's, and the mix is the one its table selected."""
    rec = REGISTRY["edsr-baseline-microscopy-faint"]["training"]["blend"]
    assert rec["tuned"] == "edsr-baseline-microscopy-camera" and rec["start"] == "edsr-baseline-microscopy-light"
    assert "time-lapse frames (5, 15, 25)" in rec["selected_on"]
    best = max(rec["gains"], key=lambda a: rec["gains"][a]["selection"])
    assert rec["alpha"] == float(best) and 0 < rec["alpha"] < 1  # a mix beat both parents on the held-out crops
    parent = REGISTRY["edsr-baseline-microscopy-camera"]
    assert parent["get"]["committed"] and parent["auto_for"] == []
    assert "--truth-noise" in parent["training"]["recipe"] and parent["training"]["steps"] == 5000
    assert parent["training"]["from"] == "edsr-baseline-microscopy-light"
    assert cache.entry("edsr-baseline-microscopy-faint").auto_for == ("noisy-microscopy-faint",)
    assert choose.model_for("noisy-microscopy-faint") == "edsr-baseline-microscopy-faint"
