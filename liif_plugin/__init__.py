"""liif-plugin: resample images to any size with LIIF (Local Implicit Image Function).

import liif_plugin as liif
y = liif.upscale(x, scale=2.5)                 # model "auto": chosen for x (liif.choose_model(x))
y = liif.upscale(x, scale=2.5, model="edsr-baseline")
print(liif.list_models())
"""

from liif_plugin.api import (
    LiifModel,
    choose_model,
    get_model,
    list_models,
    load_model,
    output_shape,
    pick_device,
    upscale,
)
from liif_plugin.engine.field import ImageField
from liif_plugin.engine.tiles import TiledField
from liif_plugin.engine.volume import Resampled, isotropic, iter_isotropic, iter_resample_planes, resample_planes
from liif_plugin.errors import Cancelled, CheckpointError, Hint, LiifError
from liif_plugin.sources.source import Source, open_source

__version__ = "0.2.0"

__all__ = [
    "load_model",
    "get_model",
    "choose_model",
    "list_models",
    "upscale",
    "LiifModel",
    "ImageField",
    "TiledField",
    "Source",
    "open_source",
    "Cancelled",
    "CheckpointError",
    "LiifError",
    "Hint",
    "output_shape",
    "pick_device",
    "resample_planes",
    "isotropic",
    "iter_isotropic",
    "iter_resample_planes",
    "Resampled",
    "__version__",
]
