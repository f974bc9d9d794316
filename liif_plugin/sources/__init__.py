"""Where pixels come from and go to: the array rules (``arrays``: dtype, value range, channels,
the one place for them), window-by-window sources of arrays, zarr, OME-Zarr, TIFF and dask
(``source``), image files with their metadata (``imageio``) and lazy dask output (``dask``)."""
