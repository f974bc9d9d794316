import numpy as np
import pytest

GOLDEN = __import__("pathlib").Path(__file__).resolve().parents[2] / "shared" / "golden"


@pytest.fixture(scope="session")
def model():
    """The real pretrained EDSR-baseline-LIIF (fetched by `make test` before pytest runs)."""
    import liif_plugin as liif

    return liif.load_model("edsr-baseline", device="cpu")


@pytest.fixture(scope="session")
def photo():
    """A small real photo crop (scikit-image's astronaut), uint8 RGB."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[120:168, 180:236])
