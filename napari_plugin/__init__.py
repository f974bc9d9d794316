"""napari face of liif-plugin (npe2 plugin "liif-plugin")."""
