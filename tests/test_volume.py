"""liif_plugin.engine.volume: slices in a chosen plane, isotropic z, exact geometry, dtypes and errors."""

import numpy as np
import pytest

import liif_plugin as liif


def _stack(shape, seed=0):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


# -- geometry ----------------------------------------------------------------------------------
def test_resample_planes_geometry_is_the_pixel_centre_rule(tiny_model):
    r = liif.resample_planes(_stack((4, 6, 5)), (2.5, 1), plane="zx", spacing=(2.0, 0.3, 0.4), model=tiny_model)
    assert r.data.shape == (10, 6, 5)
    # output j of h over n sits at input index -0.5 + (j + 0.5) n / h: spacing d n / h, shift d (0.5 n / h - 0.5)
    assert r.spacing == pytest.approx((0.8, 0.3, 0.4), rel=1e-12)
    assert r.origin == pytest.approx((-0.6, 0.0, 0.0), abs=1e-12)
    r = liif.resample_planes(_stack((3, 6, 5)), shape=(9, 15), plane="yx", spacing=(1.0, 0.3, 0.5), model=tiny_model)
    assert r.data.shape == (3, 9, 15)
    assert r.spacing == pytest.approx((1.0, 0.2, 0.5 / 3), rel=1e-12)
    assert r.origin == pytest.approx((0.0, 0.3 * (0.5 * 6 / 9 - 0.5), 0.5 * (0.5 / 3 - 0.5)), abs=1e-12)


@pytest.mark.parametrize(
    "z_grid, Z, spacing, h, dz, shift",
    [
        ("centres", 5, (2.0, 0.5, 0.5), 20, 0.5, -0.75),
        ("centres", 7, (0.7, 0.3, 0.3), 16, 0.7 * 7 / 16, 0.7 * (0.5 * 7 / 16 - 0.5)),  # round(16.33)
        ("slices", 5, (2.0, 0.5, 0.5), 17, 0.5, 0.0),
        ("slices", 4, (1.0, 0.4, 0.4), 9, 3 / 8, 0.0),  # round(7.5) + 1
    ],
)
def test_isotropic_shape_spacing_and_origin(tiny_model, z_grid, Z, spacing, h, dz, shift):
    r = liif.isotropic(_stack((Z, 8, 7)), spacing, z_grid=z_grid, model=tiny_model)
    assert r.data.shape == (h, 8, 7)
    assert r.spacing == pytest.approx((dz, spacing[1], spacing[2]), rel=1e-12)
    assert r.origin == pytest.approx((shift, 0.0, 0.0), abs=1e-12)


@pytest.mark.parametrize("z_grid", ["centres", "slices"])
def test_isotropic_places_a_z_ramp_where_it_says(z_grid):
    """Released weights: a smooth ramp along z comes back at the positions the geometry claims."""
    Z, dz = 6, 2.0
    ramp = 0.2 + 0.6 * np.arange(Z) / (Z - 1)
    stack = np.broadcast_to(ramp[:, None, None], (Z, 12, 12)).astype(np.float32)
    r = liif.isotropic(stack, (dz, 0.5, 0.5), z_grid=z_grid, combine="zx")
    z = (r.origin[0] + r.spacing[0] * np.arange(r.data.shape[0])) / dz  # input slice index of each output
    inside = (z >= 0.5) & (z <= Z - 1.5)  # away from the ends, where LIIF extrapolates
    want = 0.2 + 0.6 * z[inside] / (Z - 1)
    got = r.data[inside][:, 2:-2, 2:-2].mean(axis=(1, 2))
    assert np.abs(got - want).max() < 0.01  # a half-slice error would be 0.06


# -- planes and combination --------------------------------------------------------------------
@pytest.mark.parametrize("plane, axis", [("yx", 0), ("zx", 1), ("zy", 2)])
@pytest.mark.parametrize("shape", [(5, 7, 6, 2), (3, 4, 6), (2, 5, 4, 3)], ids=["2ch", "gray", "rgb"])
def test_plane_choice_equals_slicing_by_hand(tiny_model, plane, axis, shape):
    """Slices go to the engine several at a time (as channels); gray batches of 3 or 4 must not turn RGB."""
    stack = _stack(shape, seed=1)
    r = liif.resample_planes(stack, (1.6, 2), plane=plane, model=tiny_model)
    slices = np.moveaxis(stack, axis, 0)
    by_hand = np.stack([liif.upscale(np.ascontiguousarray(s), scale=(1.6, 2), model=tiny_model) for s in slices])
    np.testing.assert_array_equal(r.data, np.moveaxis(by_hand, 0, axis))


def test_mean_is_the_average_of_the_zx_and_zy_passes(tiny_model):
    stack = _stack((4, 9, 8), seed=2)
    kw = dict(spacing=(1.5, 0.5, 0.5), model=tiny_model)
    zx, zy = (liif.isotropic(stack, combine=c, **kw).data for c in ("zx", "zy"))
    np.testing.assert_array_equal(liif.isotropic(stack, **kw).data, (zx + zy) * np.float32(0.5))
    assert not np.array_equal(zx, zy)


def test_one_value_range_for_the_whole_stack(tiny_model):
    """uint16 slices of very different brightness share one mapping (not one per slice)."""
    rng = np.random.default_rng(3)
    stack = (rng.random((4, 10, 9)) * np.array([100, 1000, 20000, 60000])[:, None, None]).astype(np.uint16)
    r = liif.isotropic(stack, (2.0, 1.0, 1.0), combine="zx", model=tiny_model)
    lo, hi = float(stack.min()), float(stack.max())
    unit = ((stack - lo) / (hi - lo)).astype(np.float32)
    f = liif.isotropic(unit, (2.0, 1.0, 1.0), combine="zx", model=tiny_model).data
    np.testing.assert_array_equal(r.data, np.clip(np.rint(f.astype(np.float64) * (hi - lo) + lo), 0, 65535))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32, np.float64])
def test_dtype_and_channels_are_kept(tiny_model, dtype):
    stack = (_stack((3, 6, 5, 2), seed=4) * 200).astype(dtype)
    r = liif.isotropic(stack, (2.0, 1.0, 1.0), model=tiny_model)
    assert r.data.dtype == dtype and r.data.shape == (6, 6, 5, 2)
    g = liif.resample_planes(stack[..., 0], 2, plane="zy", model=tiny_model)
    assert g.data.dtype == dtype and g.data.shape == (6, 12, 5)


def test_already_isotropic_is_a_copy(tiny_model):
    stack = _stack((3, 6, 5))
    r = liif.isotropic(stack, (0.3, 0.3, 0.3), model=tiny_model)
    assert r.data is not stack and np.array_equal(r.data, stack)
    assert r.spacing == (0.3, 0.3, 0.3) and r.origin == (0.0, 0.0, 0.0)


def test_progress_counts_output_pixels_and_can_stop(tiny_model):
    seen = []
    liif.isotropic(_stack((3, 5, 4)), (2.0, 1.0, 1.0), model=tiny_model, progress=lambda d, t: seen.append((d, t)))
    done = [d for d, _ in seen]
    # zx: 5 slices of 6 x 4 output pixels; zy: 4 slices of 6 x 5.
    assert {t for _, t in seen} == {240} and done == sorted(done) and done[-1] == 240
    assert 120 in done  # the zx pass reports its end before the zy pass starts

    def stop(done, total):
        raise liif.Cancelled()

    with pytest.raises(liif.Cancelled):
        liif.resample_planes(_stack((3, 5, 4)), 2, model=tiny_model, progress=stop)


def test_closing_the_generator_stops_the_work(tiny_model, monkeypatch):
    """Cancel in a viewer closes the generator: no band is rendered after the one in flight."""
    from liif_plugin.engine import tiles

    rendered = []
    real = tiles.TiledField.window_field

    def counting(self, *a, **k):
        rendered.append(1)
        return real(self, *a, **k)

    monkeypatch.setattr(tiles.TiledField, "window_field", counting)
    steps = liif.iter_isotropic(_stack((4, 12, 10)), (3.0, 1.0, 1.0), model=tiny_model)
    done, total = next(steps)
    assert 0 < done < total
    steps.close()
    n = len(rendered)
    with pytest.raises(StopIteration):
        next(steps)
    assert len(rendered) == n  # nothing ran after close


# -- errors --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m: liif.isotropic(np.zeros((8, 8), np.float32), (2, 1, 1), model=m), "3D stack"),
        (lambda m: liif.isotropic(np.zeros((2, 3, 4, 5, 6), np.float32), (2, 1, 1), model=m), "3D stack"),
        (lambda m: liif.isotropic(np.zeros((0, 4, 4), np.float32), (2, 1, 1), model=m), "empty"),
        (lambda m: liif.isotropic(np.zeros((3, 4, 4), bool), (2, 1, 1), model=m), "dtype"),
        (lambda m: liif.isotropic(np.full((3, 4, 4), np.nan, np.float32), (2, 1, 1), model=m), "NaN"),
        (lambda m: liif.isotropic(_stack((3, 4, 4)), (0, 1, 1), model=m), "positive"),
        (lambda m: liif.isotropic(_stack((3, 4, 4)), (2, -1, 1), model=m), "positive"),
        (lambda m: liif.isotropic(_stack((3, 4, 4)), (2, 1), model=m), "three numbers"),
        (lambda m: liif.isotropic(_stack((3, 4, 4)), (0.5, 1, 1), model=m), "finer"),
        (lambda m: liif.isotropic(_stack((3, 4, 4)), (2, 1, 0.5), model=m), "differ"),
        (lambda m: liif.isotropic(_stack((3, 4, 4)), (2, 1, 1), combine="max", model=m), "combine"),
        (lambda m: liif.isotropic(_stack((1, 4, 4)), (2, 1, 1), z_grid="slices", model=m), "two z slices"),
        (lambda m: liif.resample_planes(_stack((3, 4, 4)), 2, plane="xy", model=m), "plane"),
        (lambda m: liif.resample_planes(_stack((3, 4, 4)), 0, model=m), "scale"),
    ],
)
def test_bad_input_gets_one_line_errors(tiny_model, call, match):
    with pytest.raises((ValueError, TypeError), match=match) as e:
        call(tiny_model)
    assert "\n" not in str(e.value)
