"""Sample images (File > Open Sample) from scikit-image's bundled data: nothing is downloaded."""


def astronaut():
    from skimage import data

    return [(data.astronaut(), {"name": "astronaut", "rgb": True}, "image")]


def cells():
    # 660 x 550 uint8 fluorescence image of cells, bundled with scikit-image.
    from skimage import data

    return [(data.cell(), {"name": "cells", "colormap": "gray"}, "image")]


def ihc():
    # Immunohistochemistry (IHC) brightfield slide, RGB, bundled with scikit-image.
    from skimage import data

    return [(data.immunohistochemistry(), {"name": "immunohistochemistry", "rgb": True}, "image")]
