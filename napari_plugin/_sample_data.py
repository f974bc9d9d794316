"""Sample images (File > Open Sample): scikit-image's bundled photos, and real 16-bit fluorescence
nuclei that ``liif_plugin.hub.sample_data`` fetches once from the StarDist wheel on PyPI (sha256-pinned)."""


def astronaut():
    from skimage import data

    return [(data.astronaut(), {"name": "astronaut", "rgb": True}, "image")]


def cells():
    # 660 x 550 uint8 light-microscopy image of a cell, bundled with scikit-image.
    from skimage import data

    return [(data.cell(), {"name": "cells", "colormap": "gray"}, "image")]


def ihc():
    # Immunohistochemistry (IHC) brightfield slide, RGB, bundled with scikit-image.
    from skimage import data

    return [(data.immunohistochemistry(), {"name": "immunohistochemistry", "rgb": True}, "image")]


def nuclei():
    # 512 x 512 uint16 fluorescence image of nuclei (2018 Data Science Bowl), fetched on first use.
    from liif_plugin.hub import sample_data

    return [(sample_data.nuclei_2d(), {"name": "nuclei", "colormap": "gray"}, "image")]


def nuclei_3d():
    # 31 x 61 x 57 uint16 stack of synthetic nuclei, fetched on first use.
    from liif_plugin.hub import sample_data

    return [(sample_data.nuclei_3d(), {"name": "nuclei 3D", "colormap": "gray"}, "image")]
