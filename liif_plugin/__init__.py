"""liif-plugin: resample images to any size with LIIF (Local Implicit Image Function).

    import liif_plugin as liif
    m = liif.load_model("edsr-baseline")
    y = liif.upscale(x, scale=2.5, model=m)
"""
from .api import LiifModel, get_model, load_model, output_shape, pick_device, upscale
from .checkpoint import CheckpointError
from .field import Cancelled, ImageField
from .sources import Source, open_source
from .tiles import TiledField

__version__ = "0.1.0"

__all__ = ["load_model", "get_model", "upscale", "LiifModel", "ImageField", "TiledField", "Source", "open_source",
           "Cancelled", "CheckpointError", "output_shape", "pick_device", "__version__"]
