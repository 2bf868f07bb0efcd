from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from shapely.ops import unary_union

from vigia.plan.mission import ImagingLine, Mission, Sortie, Waypoint
from vigia.report.maps import draw_mission, draw_scenario
from vigia.world.airspace import restricted_airspace
from vigia.world.scenario import Scenario, load_scenario


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", head[16:24])
    return int(w), int(h)


def _restricted(s: Scenario) -> list:
    region = unary_union([p for _, p in s.areas])
    return restricted_airspace(region, exempt_icao=[s.base_icao], exclusions=s.exclusions)


def _mission(s: Scenario) -> Mission:
    """A hand-made mission: one sortie per area, a few N-S lines, straight transits."""
    base = (s.base_icao, -107.475, 24.7645)
    sorties = []
    for k, (name, poly) in enumerate(s.areas[:2], start=1):
        x0, y0, x1, y1 = poly.bounds
        lines = []
        pts = [(base[1], base[2])]
        for j, x in enumerate(np.linspace(x0 + 0.02, x1 - 0.02, 4)):
            a, b = (x, y0 + 0.01), (x, y1 - 0.01)
            if j % 2:
                a, b = b, a
            pts += [a, b]
            lines.append(
                ImagingLine(
                    f"S{k:02d}-L{j + 1:03d}",
                    name,
                    k,
                    a,
                    b,
                    0.0 if j % 2 == 0 else 180.0,
                    15_000.0,
                    3_700.0,
                    6_000.0,
                )
            )
        pts.append((base[1], base[2]))
        route = np.array(pts, dtype=np.float64)
        wps = (Waypoint(base[1], base[2], 0.0, "takeoff"), Waypoint(base[1], base[2], 0.0, "land"))
        sorties.append(Sortie(k, route, 200_000.0, 7_000.0, tuple(lines), wps, (name,)))
    return Mission(
        name=s.name,
        partner="MX",
        base=base,
        platform="mq9",
        sensors=("avirisng", "hytes"),
        altitude_m=6000.0,
        speed_m_s=102.8,
        turn_radius_m=1866.0,
        swath_m=3712.0,
        sidelap=0.2,
        areas=list(s.areas),
        restricted=_restricted(s),
        sorties=sorties,
    )


@pytest.mark.parametrize("name", ["sinaloa", "central"])
def test_draw_scenario_writes_a_nontrivial_png(tmp_path: Path, name: str) -> None:
    s = load_scenario(name)
    out = draw_scenario(s, _restricted(s), tmp_path / "sub" / f"{name}.png")
    assert out.exists()
    assert out.stat().st_size > 50_000
    w, h = _png_size(out)
    assert w >= 1000 and h >= 900


def test_draw_mission_writes_a_nontrivial_png(tmp_path: Path) -> None:
    out = draw_mission(_mission(load_scenario("sinaloa")), tmp_path / "mission.png")
    assert out.stat().st_size > 50_000
    assert _png_size(out)[0] >= 1000


def test_draw_mission_without_sorties(tmp_path: Path) -> None:
    m = _mission(load_scenario("sinaloa"))
    m.sorties = []
    m.base = None
    out = draw_mission(m, str(tmp_path / "empty.png"))
    assert out.stat().st_size > 20_000


def test_drawing_leaves_no_pyplot_figures(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    draw_scenario(load_scenario("sinaloa"), [], tmp_path / "a.png")
    assert plt.get_fignums() == before
