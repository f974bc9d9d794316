"""The panel's background speed measurement stays off in tests unless a test asks for it (``calibrating``):
a worker still measuring when a test ends would hold its viewer past the fixture's leak check."""

import pytest


@pytest.fixture(autouse=True)
def _no_background_calibration(monkeypatch):
    from napari_plugin._widget import ResampleWidget

    monkeypatch.setattr(ResampleWidget, "CALIBRATE", False)


@pytest.fixture
def calibrating(monkeypatch):
    """The panel measures this machine's speed on a worker as soon as an estimate lacks it (as for users)."""
    from napari_plugin._widget import ResampleWidget

    monkeypatch.setattr(ResampleWidget, "CALIBRATE", True)


@pytest.fixture(autouse=True)
def _never_ask_for_time(monkeypatch):
    """Whether a job asks first because it is long depends on this machine's measured speed (stored by
    earlier tests): no test may depend on it. The tests of that question set the limit themselves."""
    from napari_plugin._controller import ResampleController

    monkeypatch.setattr(ResampleController, "CONFIRM_SECONDS", float("inf"))
