"""liif-plugin: resample images to any size with LIIF (Local Implicit Image Function).

    import liif_plugin as liif
    m = liif.load_model("edsr-baseline")
    y = liif.upscale(x, scale=2.5, model=m)
"""
from .api import LiifModel, load_model, output_shape, pick_device, upscale
from .checkpoint import CheckpointError
from .field import Cancelled, ImageField
from .volume import Resampled, isotropic, resample_planes

__version__ = "0.1.0"

__all__ = ["load_model", "upscale", "LiifModel", "ImageField", "Cancelled", "CheckpointError",
           "output_shape", "pick_device", "resample_planes", "isotropic", "Resampled", "__version__"]
