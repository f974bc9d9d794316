"""Jupyter face of liif-plugin: ``ZoomWidget(image)`` renders the visible window with LIIF.

Needs the ``notebook`` extra (anywidget). Importing this package loads no GUI toolkit.
"""
from .widget import MODES, ZoomWidget

__all__ = ["ZoomWidget", "MODES"]
