import numpy as np
import pytest

from vigia.errors import InputError
from vigia.world.landcover import LAND_COVER_CLASSES, land_cover_model


def grid(n: int = 200, step: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(np.arange(n) * step, np.arange(n) * step)


def test_fractions_are_a_partition_of_unity_everywhere() -> None:
    x, y = grid()
    f = land_cover_model("rural", seed=3).fractions(x, y)
    assert f.shape == (*x.shape, len(LAND_COVER_CLASSES))
    assert (f >= 0).all() and np.allclose(f.sum(axis=-1), 1.0, atol=1e-5)


def test_overlapping_lines_see_the_same_ground() -> None:
    m = land_cover_model("rural", seed=3)
    x, y = grid()
    # A second line's grid shifted by a whole number of pixels overlaps the first.
    a = m.fractions(x[:, 50:], y[:, 50:])
    b = m.fractions(x[:, :150] + 500.0, y[:, :150])
    assert np.allclose(a, b, atol=1e-6)


def test_rural_scenes_are_mostly_vegetation_and_industrial_ones_have_roofs() -> None:
    x, y = grid(300, 20.0)
    rural = land_cover_model("rural", seed=5).fractions(x, y).mean(axis=(0, 1))
    ind = land_cover_model("industrial", seed=5).fractions(x, y).mean(axis=(0, 1))
    i = {c: k for k, c in enumerate(LAND_COVER_CLASSES)}
    assert rural[i["tree_canopy"]] + rural[i["shrub"]] > 0.35
    assert ind[i["roof"]] > rural[i["roof"]] + 0.1


def test_the_texture_is_patchy_not_flat_and_not_white_noise() -> None:
    x, y = grid(200, 10.0)
    canopy = land_cover_model("rural", seed=9).fractions(x, y)[..., 0]
    assert canopy.std() > 0.15  # patches, not a flat share
    # Neighbouring pixels 10 m apart are strongly correlated (not pixel noise).
    r = np.corrcoef(canopy[:, :-1].ravel(), canopy[:, 1:].ravel())[0, 1]
    assert r > 0.9


def test_roads_are_narrow_lines() -> None:
    x, y = grid(400, 5.0)
    road = land_cover_model("rural", seed=2).fractions(x, y)[..., LAND_COVER_CLASSES.index("road")]
    share = (road > 0.5).mean()
    assert 0.0 < share < 0.05


def test_variants_are_coherent_patches_covering_every_index() -> None:
    x, y = grid(300, 10.0)
    v = land_cover_model("rural", seed=4).variety(x, y, 4)
    assert set(np.unique(v)) == {0, 1, 2, 3}
    assert (v[:, :-1] == v[:, 1:]).mean() > 0.8


def test_the_same_seed_gives_the_same_world() -> None:
    x, y = grid(50)
    a = land_cover_model("industrial", seed=1).fractions(x, y)
    b = land_cover_model("industrial", seed=1).fractions(x, y)
    c = land_cover_model("industrial", seed=2).fractions(x, y)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(InputError, match="setting"):
        land_cover_model("urban", seed=1)  # type: ignore[arg-type]
