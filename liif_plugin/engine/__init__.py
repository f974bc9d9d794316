"""The engine: the only place that knows LIIF.

An image's encoder features (``encoder``), the reference and fast decoders (``reference``,
``decoder``), the in-memory and lazily tiled fields that render any window (``field``,
``tiles``), output coordinates (``coords``), classic resampling on the same grid (``classic``),
viewer overviews (``overview``) and 3D stacks (``volume``). Faces call ``LiifModel.encode`` /
``open`` and ``render``; nothing here imports a GUI.
"""
