"""Jupyter face of liif-plugin: ``ZoomWidget(image)`` renders the visible window with LIIF.

Needs the ``notebook`` extra (anywidget). Importing this package loads no GUI toolkit.
"""

from liif_plugin.notebook.widget import MODES, ZoomWidget

__all__ = ["ZoomWidget", "MODES"]
