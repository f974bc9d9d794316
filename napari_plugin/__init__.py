"""napari face of liif-plugin (npe2 plugin "liif-plugin").

from napari_plugin import resample_layer
new = resample_layer(viewer.layers["cells"], scale=2.5)
viewer.add_layer(new)
"""

from ._resample import resample_layer

__all__ = ["resample_layer"]
