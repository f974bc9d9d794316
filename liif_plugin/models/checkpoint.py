"""Reading and writing LIIF checkpoints, safely, in every published layout.

The families (the LIIF authors', MMagic's EDSR and RDN) are described as data in
``liif_plugin.models.families``: loading detects the family from the file's keys, maps its tensors to our
names, checks every shape against the spec, and returns the family's pixel normalization with them.
Only ``torch.load(weights_only=True)`` ever reads a file, so a pickle that carries code is
refused without running it. The network is first built on the 'meta' device (no memory) and its
keys and shapes compared with the file's, so a hostile spec cannot make us allocate a huge model.
Files are written in the authors' layout.
"""

import copy
import os
import pickle
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import torch

from liif_plugin import models
from liif_plugin.errors import CheckpointError
from liif_plugin.models import families
from liif_plugin.models.families import Family, Normalization
from liif_plugin.models.liif import LIIF

MAX_PARAMETERS = 200_000_000  # the largest official LIIF model (EDSR) has 39 M


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint's contents: the authors'-format spec, its tensors (in the file's key names),
    the family it was saved by and the pixel normalization its network expects."""

    spec: dict
    sd: dict
    family: Family
    normalization: Normalization


def _fail(path, what) -> NoReturn:
    raise CheckpointError(f"{path}: {what}")


def read_checkpoint(path) -> Checkpoint:
    """Load a checkpoint file of any known family -> Checkpoint; never unpickles code."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint file {path} does not exist; check the path or run `liif weights list`")
    if path.is_dir():
        _fail(path, "is a folder, not a checkpoint file; give the path to a .pth file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "global" in str(e).lower():
            _fail(
                path,
                "holds Python objects other than tensors (loading it could run code), so it was refused "
                "unrun; use a checkpoint saved by the LIIF authors' code, by MMagic or by `liif train`",
            )
        _fail(
            path,
            "is not a readable PyTorch checkpoint (the safe tensor-only reader rejected it); "
            "check the file or download it again",
        )
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, KeyError, AttributeError) as e:
        first = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        _fail(path, f"is not a readable PyTorch checkpoint ({first}); check the file or download it again")
    return parse_checkpoint(ckpt, path)


def parse_checkpoint(ckpt, path: str | Path = "checkpoint") -> Checkpoint:
    """Validate the structure of a loaded checkpoint dict -> Checkpoint."""
    family = families.detect(ckpt)
    if family is None:
        _fail(path, f"is not in a LIIF checkpoint format liif-plugin knows; it reads {families.known_families()}")
    if family is families.AUTHORS:
        spec, sd = _authors_parts(ckpt, path)
    else:
        assert family.spec is not None  # every family without a spec in its files names one
        spec, sd = copy.deepcopy(family.spec), ckpt["state_dict"]
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in sd.items()):
        _fail(path, "has a state dict with entries that are not tensors; the file is damaged or not a LIIF checkpoint")
    n = sum(v.numel() for v in sd.values())
    if n > MAX_PARAMETERS:
        _fail(path, f"has {n:,} parameters, more than any LIIF model; refusing to load it")
    return Checkpoint(spec, sd, family, _normalization(ckpt, family, path))


def _authors_parts(ckpt, path):
    m = ckpt["model"]
    if not isinstance(m, dict):
        _fail(
            path,
            "is not in the LIIF checkpoint format (a dict with a 'model' entry); "
            "use a checkpoint from the LIIF authors' code or `liif train`",
        )
    if m.get("name") != "liif":
        _fail(path, f"holds a model named {m.get('name')!r}, not 'liif'; only LIIF checkpoints can be used")
    args, sd = m.get("args"), m.get("sd")
    if not isinstance(args, dict) or not isinstance(sd, dict):
        _fail(path, "lacks the model's 'args' or 'sd' (state dict); the file is incomplete or not a LIIF checkpoint")
    enc = args.get("encoder_spec")
    if not isinstance(enc, dict) or enc.get("name") not in ("edsr-baseline", "edsr", "rdn"):
        name = enc.get("name") if isinstance(enc, dict) else None
        _fail(
            path,
            f"uses the encoder {name!r}, which liif-plugin does not know; supported encoders are "
            "edsr-baseline, edsr and rdn",
        )
    return {"name": "liif", "args": args}, sd


def _normalization(ckpt, family, path):
    """The family's normalization, unless the file records its own (a model fine-tuned by `liif train`
    from a differently normalized one keeps its units in an extra top-level 'normalization' entry)."""
    rec = ckpt.get("normalization") if family is families.AUTHORS else None
    if rec is None:
        return family.normalization
    try:
        mean, std = tuple(float(v) for v in rec["mean"]), tuple(float(v) for v in rec["std"])
    except (TypeError, KeyError, ValueError):
        mean = std = ()
    if len(mean) != 3 or len(std) != 3 or not all(0 < v < 1e3 for v in std):
        _fail(
            path,
            "has a malformed 'normalization' entry (want {'mean': [3 numbers], 'std': [3 positive "
            "numbers]}); the file is damaged",
        )
    return Normalization((mean[0], mean[1], mean[2]), (std[0], std[1], std[2]))


# Bounds on what a spec may ask for, so a hostile file cannot make us build something huge.
_INT_LIMITS = {"n_resblocks": 256, "n_feats": 1024, "G0": 1024, "out_dim": 64}
_FLAGS = ("local_ensemble", "feat_unfold", "cell_decode")


def check_spec(spec, path="checkpoint"):
    args = spec["args"]
    for flag in _FLAGS:
        if flag in args and not isinstance(args[flag], bool):
            _fail(path, f"has a non-boolean '{flag}'; the file is damaged or not a LIIF checkpoint")
    enc_args = args["encoder_spec"].get("args") or {}
    imnet = args.get("imnet_spec") or {}
    im_args = imnet.get("args") or {}
    if not isinstance(enc_args, dict) or not isinstance(im_args, dict):
        _fail(path, "has malformed encoder or imnet arguments")
    for key, value in list(enc_args.items()) + list(im_args.items()):
        if key in _INT_LIMITS and (not isinstance(value, int) or not 0 < value <= _INT_LIMITS[key]):
            _fail(path, f"asks for {key}={value!r}, outside what any LIIF model uses; refusing to build it")
    hidden = im_args.get("hidden_list", [])
    if (
        imnet.get("name") != "mlp"
        or not isinstance(hidden, (list, tuple))
        or len(hidden) > 16
        or not all(isinstance(h, int) and 0 < h <= 4096 for h in hidden)
    ):
        _fail(path, "has an imnet (MLP) spec liif-plugin cannot build; use an official LIIF checkpoint")


def map_state_dict(family, want, have, path="checkpoint"):
    """The file's tensors `have` under our keys, checked against `want` (our key -> shape).

    Checks run in the file's own key names, so the message names what the user can find in it.
    """
    out, missing, wrong, used = {}, [], [], set()
    for key, shape in want.items():
        fkey = family.file_key(key)
        if fkey is None:
            out[key] = torch.zeros(shape)  # a tensor this family does not save and LIIF never reads
            continue
        used.add(fkey)
        t = have.get(fkey)
        if t is None:
            missing.append(fkey)
        elif tuple(t.shape) != shape:
            wrong.append((fkey, tuple(t.shape), shape))
        else:
            out[key] = t
    extra = sorted(set(have) - used)
    if missing or extra or wrong:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} keys (e.g. {sorted(missing)[0]})")
        if extra:
            parts.append(f"{len(extra)} unexpected keys (e.g. {extra[0]})")
        if wrong:
            k, got, exp = sorted(wrong)[0]
            parts.append(f"{len(wrong)} tensors of the wrong shape (e.g. {k}: {got} != {exp})")
        _fail(
            path,
            f"does not match the {family.name} layout its keys announce: "
            + "; ".join(parts)
            + "; the file is damaged or was saved by different code",
        )
    return out


def build_network(ckpt, path="checkpoint") -> LIIF:
    """Build the LIIF network for a Checkpoint and load its tensors strictly; clear errors on any mismatch."""
    check_spec(ckpt.spec, path)
    try:
        with torch.device("meta"):
            probe = models.make(ckpt.spec)
    except (ValueError, TypeError, KeyError) as e:
        _fail(path, f"has model arguments liif-plugin cannot build ({e}); use an official LIIF checkpoint")
    want = {k: tuple(v.shape) for k, v in probe.state_dict().items()}
    sd = map_state_dict(ckpt.family, want, ckpt.sd, path)
    net = models.make(ckpt.spec)
    net.load_state_dict(sd, strict=True)
    return net.eval()


def load_network(path) -> tuple[LIIF, Checkpoint]:
    """(network in eval mode, Checkpoint) for a file of any known family."""
    ckpt = read_checkpoint(path)
    return build_network(ckpt, path), ckpt


def save_checkpoint(path, net, spec, optimizer_state=None, epoch=None, normalization=families.AUTHORS_NORM):
    """Write `net` in the authors' format, atomically (a temp file renamed into place).

    A normalization other than the authors' is kept in a top-level entry their code ignores.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    ckpt = {"model": {"name": "liif", "args": spec["args"], "sd": sd}, "optimizer": optimizer_state, "epoch": epoch}
    if normalization != families.AUTHORS_NORM:
        ckpt["normalization"] = {"mean": list(normalization.mean), "std": list(normalization.std)}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pth")
    os.close(fd)
    try:
        torch.save(ckpt, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
