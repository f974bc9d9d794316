"""Checkpoint families as data: how each publisher names LIIF's tensors and scales its pixels.

Three families of published LIIF files exist:

- ``authors``: the LIIF authors' code (yinboc/liif), ``{"model": {"name", "args", "sd"}, ...}``;
  our module names are theirs, so the table is empty.
- ``mmagic-edsr`` and ``mmagic-rdn``: OpenMMLab MMagic (formerly MMEditing), ``{"meta", "state_dict"}``
  with the network under ``generator.`` and the encoder's modules directly below it.

Each table maps *our* (the authors') key to the file's key: the first rule whose pattern matches
wins; a rule with no target marks tensors the family does not save and LIIF never reads (EDSR's
mean-shift convolutions), which are zero-filled. Every check then happens in the file's own
names, so an error names the key the user can find in their file.
"""

import re
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Normalization:
    """Pixel units of a model: it sees (x - mean) / std and its output p means p * std + mean."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def _stats(self, like, dim):
        shape = [1] * like.dim()
        shape[dim] = 3
        mean = torch.tensor(self.mean, dtype=like.dtype, device=like.device).view(shape)
        std = torch.tensor(self.std, dtype=like.dtype, device=like.device).view(shape)
        return mean, std

    def to_net(self, x, dim=1):
        """[0, 1] values -> the network's units; `dim` is the RGB axis (1 for images, -1 for values)."""
        mean, std = self._stats(x, dim)
        return (x - mean) / std

    def from_net(self, pred, dim=-1):
        """The network's output -> [0, 1] values (not clamped)."""
        mean, std = self._stats(pred, dim)
        return pred * std + mean


AUTHORS_NORM = Normalization((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
# MMagic's EDSR config: subtract the DIV2K RGB mean, std 1 (configs/liif/liif_edsr_norm_*.py).
DIV2K_MEAN_NORM = Normalization((0.4488, 0.4371, 0.4040), (1.0, 1.0, 1.0))


def _imnet(prefix):
    return (r"^imnet\.layers\.(\d+)\.", prefix + r"imnet.layers.\1.")


@dataclass(frozen=True)
class Family:
    name: str
    title: str  # for messages: the family and how its files look
    whose: str  # "the LIIF authors'": whose code saves such files
    normalization: Normalization
    renames: tuple[tuple[str, str | None], ...]  # (regex on our key, the file's key or None)
    spec: dict | None = None  # what to build, for files that carry no spec

    def file_key(self, key):
        """The file's name for our `key`; None where the family saves no such tensor."""
        for pattern, target in self.renames:
            if re.match(pattern, key):
                return None if target is None else re.sub(pattern, target, key, count=1)
        return key


def _spec(encoder, enc_args):
    return {
        "name": "liif",
        "args": {
            "encoder_spec": {"name": encoder, "args": dict(enc_args, no_upsampling=True)},
            "imnet_spec": {"name": "mlp", "args": {"out_dim": 3, "hidden_list": [256, 256, 256, 256]}},
        },
    }


AUTHORS = Family(
    "authors",
    "the LIIF authors' files ({'model': {'name': 'liif', 'args', 'sd'}})",
    "the LIIF authors'",
    AUTHORS_NORM,
    (),
)

# MMagic's LIIFEDSRNet: EDSRNet(mid_channels=64, num_blocks=16) with conv_first / body / conv_after_body
# lifted to the generator; ResidualBlockNoBN has conv1, relu, conv2.
MMAGIC_EDSR = Family(
    "mmagic-edsr",
    "MMagic LIIF-EDSR ({'state_dict': {'generator.conv_first...'}})",
    "OpenMMLab MMagic's",
    DIV2K_MEAN_NORM,
    (
        (r"^encoder\.(sub|add)_mean\.", None),
        (r"^encoder\.head\.0\.", "generator.conv_first."),
        (r"^encoder\.body\.16\.", "generator.conv_after_body."),  # the conv after the 16 blocks
        (r"^encoder\.body\.(\d+)\.body\.0\.", r"generator.body.\1.conv1."),
        (r"^encoder\.body\.(\d+)\.body\.2\.", r"generator.body.\1.conv2."),
        _imnet("generator."),
    ),
    spec=_spec("edsr-baseline", {"n_resblocks": 16, "n_feats": 64, "res_scale": 1}),
)

# MMagic's LIIFRDNNet: RDNNet(mid_channels=64, num_blocks=16, num_layers=8, channel_growth=64), i.e. the
# authors' RDN config B, with sfe1 / sfe2 / rdbs / gff lifted to the generator.
MMAGIC_RDN = Family(
    "mmagic-rdn",
    "MMagic LIIF-RDN ({'state_dict': {'generator.sfe1...'}})",
    "OpenMMLab MMagic's",
    AUTHORS_NORM,
    (
        (r"^encoder\.SFENet1\.", "generator.sfe1."),
        (r"^encoder\.SFENet2\.", "generator.sfe2."),
        (r"^encoder\.RDBs\.(\d+)\.convs\.(\d+)\.conv\.0\.", r"generator.rdbs.\1.layers.\2.conv."),
        (r"^encoder\.RDBs\.(\d+)\.LFF\.", r"generator.rdbs.\1.lff."),
        (r"^encoder\.GFF\.", "generator.gff."),
        _imnet("generator."),
    ),
    spec=_spec("rdn", {"G0": 64, "RDNconfig": "B"}),
)

FAMILIES = {f.name: f for f in (AUTHORS, MMAGIC_EDSR, MMAGIC_RDN)}
# A key only one MMagic family has tells them apart.
_MMAGIC_MARKERS = (("generator.conv_first.weight", MMAGIC_EDSR), ("generator.sfe1.weight", MMAGIC_RDN))


def known_families():
    """One sentence part listing every family, for error messages."""
    return "; ".join(f.title for f in FAMILIES.values())


def detect(ckpt):
    """The family of a loaded checkpoint dict, or None when it is none of them."""
    if not isinstance(ckpt, dict):
        return None
    if "model" in ckpt:
        return AUTHORS
    sd = ckpt.get("state_dict")
    if isinstance(sd, dict):
        for key, family in _MMAGIC_MARKERS:
            if key in sd:
                return family
    return None
