"""Sample data: the StarDist wheel's fluorescence images, fetched for real from PyPI and sha256-checked."""

import numpy as np

from liif_plugin.cli.main import main
from liif_plugin.hub import sample_data


def test_cli_fetches_the_pinned_nuclei_and_replaces_a_damaged_copy(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LIIF_DATA_DIR", str(tmp_path))
    assert main(["data", "fetch", "nuclei-2d"]) == 0
    path = tmp_path / "stardist-img2d.tif"
    assert str(path) in capsys.readouterr().out
    assert sample_data.sha256_of(path) == sample_data.entry("nuclei-2d").sha256
    img = sample_data.nuclei_2d()
    assert img.shape == (512, 512) and img.dtype == np.uint16 and img.std() > 5
    path.write_bytes(b"damaged")
    assert (
        sample_data.fetch("nuclei-2d", quiet=True) == path
        and sample_data.sha256_of(path) == sample_data.entry("nuclei-2d").sha256
    )
    assert main(["data", "list"]) == 0
    assert any(line.split()[:2] == ["nuclei-2d", "present"] for line in capsys.readouterr().out.splitlines())


def test_unknown_data_set_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LIIF_DATA_DIR", str(tmp_path))
    assert main(["data", "fetch", "nucleii"]) == 2
    err = capsys.readouterr().err
    assert (
        "unknown data set 'nucleii'; known: bio-timelapse, cells3d-nuclei, nuclei-2d, nuclei-3d" in err
        and len(err.strip().splitlines()) == 1
    )
    assert not list(tmp_path.iterdir())
