"""liif-plugin: resample images to any size with LIIF (Local Implicit Image Function).

import liif_plugin as liif
m = liif.load_model("edsr-baseline")
y = liif.upscale(x, scale=2.5, model=m)
"""

from liif_plugin.api import LiifModel, get_model, load_model, output_shape, pick_device, upscale
from liif_plugin.engine.field import Cancelled, ImageField
from liif_plugin.engine.tiles import TiledField
from liif_plugin.engine.volume import Resampled, isotropic, resample_planes
from liif_plugin.models.checkpoint import CheckpointError
from liif_plugin.sources.source import Source, open_source

__version__ = "0.1.0"

__all__ = [
    "load_model",
    "get_model",
    "upscale",
    "LiifModel",
    "ImageField",
    "TiledField",
    "Source",
    "open_source",
    "Cancelled",
    "CheckpointError",
    "output_shape",
    "pick_device",
    "resample_planes",
    "isotropic",
    "Resampled",
    "__version__",
]
