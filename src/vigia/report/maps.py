"""Map drawings of scenarios and missions, saved as PNG.

Drawn with matplotlib's object API (``Figure`` + the Agg canvas), never ``pyplot``, so no
global figure state leaks between calls or threads. Axes are lon/lat degrees with the aspect
set to ``1 / cos(latitude)`` so that a kilometre looks the same east–west and north–south.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, PathPatch
from matplotlib.path import Path as MplPath
from matplotlib.ticker import MaxNLocator
from mpl_toolkits.axes_grid1.anchored_artists import (  # type: ignore[import-untyped]
    AnchoredSizeBar,
)
from numpy.typing import NDArray
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient
from shapely.ops import unary_union

from vigia.errors import UnknownNameError
from vigia.plan.mission import Mission, RestrictedZone
from vigia.world.airspace import airport
from vigia.world.country import partner_boundary
from vigia.world.scenario import Scenario

__all__ = ["MISSION_CAPTION", "SCENARIO_CAPTION", "draw_mission", "draw_scenario"]

MISSION_CAPTION = "Airports: airportsdata; exclusions illustrative; route: Vigía planner"
SCENARIO_CAPTION = "Airports: airportsdata; exclusions illustrative; border: Natural Earth 1:10m"

Extent = tuple[float, float, float, float]
_CLUSTER_GAP_DEG = 0.45  # areas closer than ~50 km share a zoomed panel
_MAX_PANELS = 4

_AREA_STYLE: dict[str, Any] = {
    "facecolor": "#4daf4a",
    "edgecolor": "#1b5e20",
    "alpha": 0.30,
    "lw": 1.2,
}
_ZONE_STYLES: dict[str, dict[str, Any]] = {
    "airport": {"facecolor": "#e41a1c", "edgecolor": "#a50f15", "alpha": 0.22, "hatch": "//"},
    "partner_exclusion": {"facecolor": "#ff7f00", "edgecolor": "#b35806", "alpha": 0.35},
    "aoi_hole": {"facecolor": "#ffffff", "edgecolor": "#636363", "alpha": 0.6},
    "user": {"facecolor": "#984ea3", "edgecolor": "#54278f", "alpha": 0.30},
}
_ZONE_LABELS = {
    "airport": "Airport protection zone",
    "partner_exclusion": "Partner exclusion (illustrative)",
    "aoi_hole": "Hole in area (not imaged)",
    "user": "User restriction",
}
_SORTIE_COLOURS = (
    "#377eb8", "#e7298a", "#984ea3", "#a65628", "#66a61e", "#e6ab02", "#1b9e77", "#7570b3",
)  # fmt: skip


def _polygon_path(poly: Polygon) -> MplPath:
    # Exterior CCW, holes CW: matplotlib fills with the non-zero rule, so holes stay empty.
    p = orient(poly, 1.0)
    rings = [np.asarray(p.exterior.coords), *(np.asarray(r.coords) for r in p.interiors)]
    return MplPath.make_compound_path(*(MplPath(r[:, :2], closed=True) for r in rings))


def _polygons(geom: BaseGeometry) -> list[Polygon]:
    if isinstance(geom, Polygon):
        return [geom]
    if isinstance(geom, MultiPolygon):
        return list(geom.geoms)
    return []


def _add_polygon(ax: Axes, geom: BaseGeometry, **style: object) -> None:
    for poly in _polygons(geom):
        if not poly.is_empty:
            ax.add_patch(PathPatch(_polygon_path(poly), **style))


@dataclass(frozen=True)
class _Layers:
    """What one map shows, shared by every panel of a figure."""

    partner: str
    areas: Sequence[tuple[str, Polygon]]
    restricted: Sequence[RestrictedZone]
    base: tuple[str, float, float] | None
    routes: Sequence[NDArray[np.float64]] = ()
    lines: Sequence[Sequence[tuple[tuple[float, float], tuple[float, float]]]] = ()


def _nice_length_km(width_km: float) -> float:
    target = width_km / 5.0
    for v in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000):
        if v >= target:
            return float(v)
    return 1000.0


def _km_per_deg_lon(lat: float) -> float:
    return 111.320 * math.cos(math.radians(lat))


def _scale_bar(ax: Axes, extent: Extent, occupied: BaseGeometry) -> None:
    x0, x1, y0, y1 = extent
    lat0 = (y0 + y1) / 2.0
    length_km = _nice_length_km((x1 - x0) * _km_per_deg_lon(lat0))
    dlon = length_km / _km_per_deg_lon(lat0)
    w, h = 0.3 * (x1 - x0), 0.14 * (y1 - y0)
    corners = {
        "lower left": box(x0, y0, x0 + w, y0 + h),
        "lower right": box(x1 - w, y0, x1, y0 + h),
        "upper left": box(x0, y1 - h, x0 + w, y1),
    }
    # The emptiest corner (the legend takes the upper right).
    loc = min(corners, key=lambda k: corners[k].intersection(occupied).area)
    bar = AnchoredSizeBar(
        ax.transData, dlon, f"{length_km:g} km", loc, pad=0.4, borderpad=0.6, sep=4,
        frameon=True, size_vertical=0.004 * (y1 - y0), fontproperties={"size": 8},
    )  # fmt: skip
    bar.patch.set_alpha(0.8)
    bar.set_zorder(30)
    ax.add_artist(bar)


def _extent(geoms: Iterable[BaseGeometry], pad_km: float = 3.0) -> Extent:
    bounds = np.array([g.bounds for g in geoms if not g.is_empty], dtype=np.float64)
    x0, y0 = bounds[:, 0].min(), bounds[:, 1].min()
    x1, y1 = bounds[:, 2].max(), bounds[:, 3].max()
    lat0 = (y0 + y1) / 2.0
    padx = max(0.08 * (x1 - x0), pad_km / _km_per_deg_lon(lat0))
    pady = max(0.08 * (y1 - y0), pad_km / 111.0)
    return float(x0 - padx), float(x1 + padx), float(y0 - pady), float(y1 + pady)


def _clusters(areas: Sequence[tuple[str, Polygon]]) -> list[list[int]]:
    """Group areas lying within ~50 km of each other (indices into ``areas``)."""
    grown = [p.buffer(_CLUSTER_GAP_DEG / 2.0) for _, p in areas]
    groups: list[list[int]] = []
    for comp in _polygons(unary_union(grown)):
        groups.append([i for i, g in enumerate(grown) if g.intersects(comp)])
    return sorted(groups, key=lambda g: areas[g[0]][1].centroid.x)


def _draw_panel(ax: Axes, layers: _Layers, extent: Extent, *, detailed: bool) -> list[Artist]:
    x0, x1, y0, y1 = extent
    view = box(x0, y0, x1, y1)
    lat0 = (y0 + y1) / 2.0
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect(1.0 / math.cos(math.radians(lat0)))
    ax.grid(True, lw=0.4, color="#bbbbbb", zorder=0)
    ax.tick_params(labelsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5 if detailed else 8))
    handles: list[Artist] = []
    try:
        border: BaseGeometry | None = partner_boundary(layers.partner).intersection(
            view.buffer(0.5)
        )
    except UnknownNameError:
        border = None
    if border is not None:
        _add_polygon(ax, border, facecolor="#f7f4ea", edgecolor="#7f7f7f", lw=0.8, zorder=0.5)
        ax.set_facecolor("#d6e6f2")  # sea / beyond the border
        handles.append(
            Patch(facecolor="#f7f4ea", edgecolor="#7f7f7f", label=f"{layers.partner} territory")
        )
    occupied: list[BaseGeometry] = []
    for name, poly in layers.areas:
        _add_polygon(ax, poly, zorder=2, **_AREA_STYLE)
        occupied.append(poly)
        if not poly.intersects(view):
            continue
        p = poly.representative_point()
        ax.annotate(
            name, (p.x, p.y), fontsize=8 if detailed else 7, weight="bold", color="#1b5e20",
            ha="center", va="center", zorder=15,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.6, "pad": 1},
        )  # fmt: skip
    handles.append(Patch(label="Area of interest (holes not imaged)", **_AREA_STYLE))
    kinds_seen: list[str] = []
    for z in layers.restricted:
        style = _ZONE_STYLES.get(z.kind, _ZONE_STYLES["user"])
        _add_polygon(ax, z.polygon, zorder=3, lw=1.0, **style)
        if z.kind not in kinds_seen:
            kinds_seen.append(z.kind)
        if not z.polygon.intersects(view):
            continue
        occupied.append(z.polygon)
        if detailed:
            p = z.polygon.intersection(view).representative_point()
            label = z.name.split()[0] if z.kind == "airport" else _short(z.name)
            ax.annotate(
                label, (p.x, p.y), fontsize=7, color=str(style["edgecolor"]), ha="center",
                va="center", zorder=14,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.6, "pad": 0.5},
            )  # fmt: skip
    for kind in kinds_seen:
        style = _ZONE_STYLES.get(kind, _ZONE_STYLES["user"])
        handles.append(Patch(label=_ZONE_LABELS.get(kind, kind), **style))
    for i, route in enumerate(layers.routes):
        colour = _SORTIE_COLOURS[i % len(_SORTIE_COLOURS)]
        if len(route) >= 2:
            ax.plot(route[:, 0], route[:, 1], color=colour, lw=1.0, alpha=0.9, zorder=8)
            occupied.append(LineString(route).buffer(0.002))
    for i, lines in enumerate(layers.lines):
        colour = _SORTIE_COLOURS[i % len(_SORTIE_COLOURS)]
        for start, end in lines:
            ax.plot(
                [start[0], end[0]], [start[1], end[1]], color=colour, lw=2.4 if detailed else 1.6,
                solid_capstyle="butt", zorder=9,
            )  # fmt: skip
    if layers.base is not None:
        code, blon, blat = layers.base
        ax.plot(blon, blat, marker="^", ms=11, color="black", mec="white", zorder=25)
        ax.annotate(
            code, (blon, blat), xytext=(7, -4), textcoords="offset points", fontsize=9,
            weight="bold", zorder=25,
        )  # fmt: skip
        occupied.append(Point(blon, blat).buffer(0.03 * (x1 - x0)))
        handles.append(
            Line2D([], [], marker="^", ls="none", ms=10, color="black", label=f"Base ({code})")
        )
    _scale_bar(ax, extent, unary_union(occupied) if occupied else Polygon())
    return handles


def _short(name: str, n: int = 34) -> str:
    return name if len(name) <= n else name[: n - 1] + "…"


def _render(
    layers: _Layers,
    title: str,
    caption: str,
    extra_handles: Sequence[Artist],
    extent_geoms: Sequence[BaseGeometry],
    path: Path,
) -> Path:
    groups = _clusters(layers.areas) if layers.areas else []
    multi = 1 < len(groups) <= _MAX_PANELS
    fig = Figure(figsize=(12.0, 10.0) if multi else (10.0, 9.0), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(title, fontsize=12)
    if multi:
        gs = fig.add_gridspec(2, len(groups), height_ratios=(1.15, 1.0))
        overview = fig.add_subplot(gs[0, :])
        handles = _draw_panel(overview, layers, _extent(extent_geoms, 15.0), detailed=False)
        overview.set_title("Overview", fontsize=10)
        for col, group in enumerate(groups):
            ax = fig.add_subplot(gs[1, col])
            geoms = [layers.areas[i][1] for i in group]
            ext = _extent(geoms)
            _draw_panel(ax, layers, ext, detailed=True)
            ax.set_title(", ".join(layers.areas[i][0] for i in group), fontsize=9)
            ax.set_xlabel("Longitude (°)", fontsize=8)
            if col == 0:
                ax.set_ylabel("Latitude (°)", fontsize=8)
        legend_ax = overview
    else:
        legend_ax = fig.add_subplot()
        handles = _draw_panel(legend_ax, layers, _extent(extent_geoms), detailed=True)
        legend_ax.set_xlabel("Longitude (°)")
        legend_ax.set_ylabel("Latitude (°)")
    legend_ax.legend(
        handles=[*handles, *extra_handles], loc="upper right", fontsize=8, framealpha=0.9
    ).set_zorder(40)
    fig.get_layout_engine().set(h_pad=0.12)  # type: ignore[union-attr,call-arg]
    fig.text(0.01, 0.003, caption, fontsize=7.5, color="#444444", ha="left", va="bottom")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def _view_geoms(layers: _Layers) -> list[BaseGeometry]:
    geoms: list[BaseGeometry] = [p for _, p in layers.areas]
    if layers.base is not None:
        geoms.append(Point(layers.base[1], layers.base[2]))
    for r in layers.routes:
        if len(r) >= 2:
            geoms.append(LineString(r))
    if geoms:
        env = unary_union(geoms).envelope
        # Partner exclusions and circles touching the view are shown whole.
        geoms += [z.polygon for z in layers.restricted if z.polygon.intersects(env)]
    return geoms


def draw_scenario(
    scenario: Scenario, restricted: Sequence[RestrictedZone], path: str | Path
) -> Path:
    """Draw a scenario's areas, restricted airspace and base to a PNG map.

    When the areas lie in several places far apart, the map has an overview and one zoomed
    panel per place.

    Parameters
    ----------
    scenario : Scenario
        Areas (lon/lat, with holes) and base.
    restricted : sequence of RestrictedZone
        Airspace to draw (airport circles and partner exclusions), e.g. from
        :func:`vigia.world.airspace.restricted_airspace`.
    path : str or Path
        Output PNG file; parent directories are created.

    Returns
    -------
    Path
        The file written.
    """
    try:
        a = airport(scenario.base_icao)
        base: tuple[str, float, float] | None = (a.icao, a.lon, a.lat)
    except UnknownNameError:
        base = None
    layers = _Layers(scenario.partner, scenario.areas, restricted, base)
    title = f"{scenario.title}\nscenario '{scenario.name}', partner {scenario.partner}"
    return _render(layers, title, SCENARIO_CAPTION, (), _view_geoms(layers), Path(path))


def draw_mission(mission: Mission, path: str | Path) -> Path:
    """Draw a planned mission to a PNG map.

    Shows the areas (with holes), restricted zones by kind with their names, every imaging
    line, each sortie's route in its own colour, the base, a scale bar in km, a legend, a
    title and a caption naming the sources. Areas far apart get zoomed panels under an
    overview.

    Parameters
    ----------
    mission : Mission
        The plan (lon/lat degrees).
    path : str or Path
        Output PNG file; parent directories are created.

    Returns
    -------
    Path
        The file written.
    """
    routes = [np.asarray(s.route, dtype=np.float64).reshape(-1, 2) for s in mission.sorties]
    lines = [[(ln.start, ln.end) for ln in s.lines] for s in mission.sorties]
    layers = _Layers(
        mission.partner, mission.areas, mission.restricted, mission.base, routes, lines
    )
    handles: list[Artist] = []
    for i, s in enumerate(mission.sorties):
        colour = _SORTIE_COLOURS[i % len(_SORTIE_COLOURS)]
        label = (
            f"Sortie {s.index}: {len(s.lines)} lines, {s.length_m / 1000:,.0f} km, "
            f"{s.duration_s / 3600:.1f} h"
        )
        handles.append(Line2D([], [], color=colour, lw=1.5, label=label))
    if mission.lines:
        handles.append(Line2D([], [], color="#555555", lw=2.6, label="Imaging lines (thick)"))
    title = (
        f"Mission '{mission.name}' ({mission.approval}): {len(mission.sorties)} sortie(s), "
        f"{len(mission.lines)} imaging lines\n{mission.platform} at "
        f"{mission.altitude_m:,.0f} m AGL, swath {mission.swath_m:,.0f} m "
        f"({', '.join(mission.sensors)})"
    )
    return _render(layers, title, MISSION_CAPTION, handles, _view_geoms(layers), Path(path))
