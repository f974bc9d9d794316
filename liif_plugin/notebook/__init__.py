"""Jupyter face of liif-plugin: the anywidget ZoomWidget (see issue 4)."""
