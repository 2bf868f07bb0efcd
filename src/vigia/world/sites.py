"""Ground-truth sites of a simulated world: labs and the decoys that look like them.

One vocabulary of site kinds serves the truth files and, later, site classification. Decoy
kinds never contain the word "lab". Every number drawn here is a modelling assumption for the
simulator, not intelligence; the comment beside each distribution says where its order of
magnitude comes from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import shapely
from shapely.geometry import Point, Polygon

from vigia.errors import InputError
from vigia.geo import LocalFrame

__all__ = [
    "DECOY_KINDS",
    "LAB_KINDS",
    "SITE_KINDS",
    "Site",
    "SiteKind",
    "generate_sites",
    "is_lab",
]

SiteKind = Literal[
    "rural_lab",
    "industrial_lab",
    "farm_tarp",
    "kiln",
    "charcoal_pit",
    "factory_stack",
    "landfill",
    "paint_shop",
]
SITE_KINDS: tuple[str, ...] = get_args(SiteKind)
LAB_KINDS: tuple[str, ...] = tuple(k for k in SITE_KINDS if k.endswith("_lab"))
DECOY_KINDS: tuple[str, ...] = tuple(k for k in SITE_KINDS if "lab" not in k)

Camouflage = Literal["tarp", "branches", "roof", "none"]


def is_lab(kind: str) -> bool:
    """Tell whether a site kind is a drug lab (as opposed to a decoy)."""
    if kind not in SITE_KINDS:
        raise InputError(f"unknown site kind {kind!r}; kinds: {', '.join(SITE_KINDS)}")
    return kind in LAB_KINDS


@dataclass(frozen=True)
class Site:
    """A ground-truth site.

    Attributes
    ----------
    site_id : str
        Unique in the world, e.g. ``"sinaloa-007"``.
    kind : SiteKind
        What it is.
    area : str
        Name of the area of interest it lies in.
    lon, lat : float
        Source point (stack, vent or fire), degrees.
    emissions_kg_h : dict of str to float
        Emission rate of each species while active, kg/h (edge unit; kg/s inside physics).
    duty_cycle : float
        Fraction of the time the site emits (intermittent venting), in (0, 1].
    source_height_m : float
        Release height above ground, metres.
    heat_k : float or None
        Temperature of the hot surface (fire, kiln, reactor), K; None when there is none.
    heat_area_m2 : float
        Area of the hot surface, m².
    camouflage : Camouflage
        What hides the site from above.
    cover_area_m2 : float
        Area of the tarp, branches or roof, m².
    clearing_radius_m : float
        Radius of the cleared ground around the site, metres (0 when none).
    """

    site_id: str
    kind: SiteKind
    area: str
    lon: float
    lat: float
    emissions_kg_h: dict[str, float] = field(default_factory=dict)
    duty_cycle: float = 1.0
    source_height_m: float = 2.0
    heat_k: float | None = None
    heat_area_m2: float = 0.0
    camouflage: Camouflage = "none"
    cover_area_m2: float = 0.0
    clearing_radius_m: float = 0.0

    def to_properties(self) -> dict[str, Any]:
        """Return the site as GeoJSON properties (the truth file's vocabulary)."""
        return {
            "site_id": self.site_id,
            "kind": self.kind,
            "is_lab": is_lab(self.kind),
            "area": self.area,
            "species": sorted(self.emissions_kg_h),
            "emissions_kg_h": {k: round(v, 4) for k, v in sorted(self.emissions_kg_h.items())},
            "duty_cycle": round(self.duty_cycle, 3),
            "source_height_m": round(self.source_height_m, 1),
            "heat_k": None if self.heat_k is None else round(self.heat_k, 1),
            "heat_area_m2": round(self.heat_area_m2, 1),
            "camouflage": self.camouflage,
            "cover_area_m2": round(self.cover_area_m2, 1),
            "clearing_radius_m": round(self.clearing_radius_m, 1),
        }


def _lognormal(rng: np.random.Generator, median: float, spread: float) -> float:
    # Log-normal with the given median and multiplicative 1-sigma spread.
    return float(median * math.exp(rng.normal(0.0, math.log(spread))))


def _rural_lab(rng: np.random.Generator) -> dict[str, Any]:
    # Improvised rural meth labs: solvent washes and reductions under tarps or branches in small
    # clearings (seeds; Martyny et al. 2007 measured NH3 and solvent vapour above IDLH inside
    # cooks). Vented rates are a modelling assumption: evaporation of tens of litres of solvent
    # over a cook of some hours gives ~0.5-5 kg/h while venting.
    solvents = rng.choice(
        ["acetone", "toluene", "methanol", "dichloromethane", "isopropanol"],
        size=int(rng.integers(1, 3)),
        replace=False,
    )
    emissions = {str(s): _lognormal(rng, 1.5, 2.0) for s in solvents}
    emissions["NH3"] = _lognormal(rng, 0.5, 2.0)
    return {
        "emissions_kg_h": emissions,
        # Cooks are intermittent: a few hours in a day.
        "duty_cycle": float(rng.uniform(0.15, 0.5)),
        "source_height_m": float(rng.uniform(1.0, 3.0)),
        # Gas burners and cooking fires under the cover: a few hundred K above ambient, m².
        "heat_k": float(rng.uniform(450.0, 800.0)),
        "heat_area_m2": float(rng.uniform(0.5, 4.0)),
        "camouflage": str(rng.choice(["tarp", "branches"], p=[0.6, 0.4])),
        "cover_area_m2": float(rng.uniform(40.0, 300.0)),
        "clearing_radius_m": float(rng.uniform(8.0, 25.0)),
    }


def _industrial_lab(rng: np.random.Generator) -> dict[str, Any]:
    # Industrial-scale synthesis in warehouses (seeds: labs in Hidalgo, Puebla, Jalisco):
    # larger batches and continuous extraction; rates assumed ~5x the rural ones, vented through
    # a roof stack.
    solvents = rng.choice(
        ["acetone", "toluene", "methanol", "dichloromethane", "ethyl acetate", "chloroform"],
        size=int(rng.integers(2, 4)),
        replace=False,
    )
    emissions = {str(s): _lognormal(rng, 6.0, 2.0) for s in solvents}
    emissions["NH3"] = _lognormal(rng, 2.0, 2.0)
    return {
        "emissions_kg_h": emissions,
        "duty_cycle": float(rng.uniform(0.6, 1.0)),
        "source_height_m": float(rng.uniform(8.0, 15.0)),
        "heat_k": float(rng.uniform(330.0, 400.0)),
        "heat_area_m2": float(rng.uniform(5.0, 30.0)),
        "camouflage": "roof",
        "cover_area_m2": float(rng.uniform(600.0, 3000.0)),
    }


def _decoy(kind: str, rng: np.random.Generator) -> dict[str, Any]:
    if kind == "farm_tarp":
        # Greenhouse and hay tarps: the same polyethylene, no heat, no vapour.
        return {"camouflage": "tarp", "cover_area_m2": float(rng.uniform(50.0, 800.0))}
    if kind == "kiln":
        # Artisanal brick kilns: fired at ~900-1100 °C; smoke, CO2, no solvent.
        return {
            "heat_k": float(rng.uniform(900.0, 1300.0)),
            "heat_area_m2": float(rng.uniform(4.0, 20.0)),
            "emissions_kg_h": {"CO2": _lognormal(rng, 300.0, 2.0)},
            "source_height_m": float(rng.uniform(3.0, 8.0)),
        }
    if kind == "charcoal_pit":
        # Earth-covered charcoal mounds smoulder at ~700-900 K for days; some CH4 (carbonisation).
        return {
            "heat_k": float(rng.uniform(600.0, 900.0)),
            "heat_area_m2": float(rng.uniform(5.0, 40.0)),
            "emissions_kg_h": {"CH4": _lognormal(rng, 3.0, 2.0)},
            "clearing_radius_m": float(rng.uniform(10.0, 30.0)),
        }
    if kind == "factory_stack":
        # Legitimate industry: tall stack, CH4 slip of tens of kg/h is within airborne surveys'
        # detected range (Cusworth et al. 2022 report point sources from ~10 kg/h up).
        return {
            "emissions_kg_h": {"CH4": _lognormal(rng, 40.0, 2.0)},
            "heat_k": float(rng.uniform(350.0, 450.0)),
            "heat_area_m2": float(rng.uniform(2.0, 10.0)),
            "source_height_m": float(rng.uniform(20.0, 60.0)),
            "camouflage": "roof",
            "cover_area_m2": float(rng.uniform(2000.0, 10000.0)),
        }
    if kind == "landfill":
        # Landfills are among the largest airborne-detected CH4 sources (hundreds of kg/h).
        return {
            "emissions_kg_h": {"CH4": _lognormal(rng, 300.0, 2.0)},
            "source_height_m": 1.0,
            "clearing_radius_m": float(rng.uniform(100.0, 300.0)),
        }
    if kind == "paint_shop":
        # Body and furniture shops: spray solvents (toluene, xylenes, acetone), working hours only.
        solvents = rng.choice(["toluene", "acetone", "ethyl acetate"], size=2, replace=False)
        return {
            "emissions_kg_h": {str(s): _lognormal(rng, 1.0, 2.0) for s in solvents},
            "duty_cycle": float(rng.uniform(0.25, 0.45)),
            "source_height_m": float(rng.uniform(3.0, 6.0)),
            "camouflage": "roof",
            "cover_area_m2": float(rng.uniform(150.0, 800.0)),
        }
    raise InputError(f"unknown decoy kind {kind!r}")


# Expected sites per 100 km² of area, by setting. Rural hills (seeds: "thousands of drug labs
# detected in previous years" around Culiacán) are dense with small labs and with farm tarps and
# charcoal pits that look like them; industrial corridors hold fewer, larger labs among real
# industry. The densities make a scene worth surveying, they do not estimate reality.
DENSITY_PER_100KM2: dict[str, dict[str, float]] = {
    "rural": {
        "rural_lab": 1.5,
        "farm_tarp": 2.0,
        "charcoal_pit": 0.8,
        "kiln": 0.3,
        "landfill": 0.05,
    },
    "industrial": {
        "industrial_lab": 1.0,
        "factory_stack": 2.0,
        "paint_shop": 2.0,
        "kiln": 0.8,
        "landfill": 0.3,
        "farm_tarp": 0.5,
    },
}


def generate_sites(
    areas: list[tuple[str, Polygon]],
    *,
    setting: Literal["rural", "industrial"],
    seed: int,
    prefix: str = "site",
    min_each: bool = True,
) -> list[Site]:
    """Draw the ground-truth sites of a world.

    Counts are Poisson with :data:`DENSITY_PER_100KM2`; positions are uniform over each area,
    outside its holes and at least 300 m from any other site (so sites stay separable).

    Parameters
    ----------
    areas : list of (str, Polygon)
        Named areas, lon/lat degrees.
    setting : {"rural", "industrial"}
        Which density table applies.
    seed : int
        Seed of the random generator: the same seed gives the same world.
    prefix : str
        Prefix of site ids.
    min_each : bool
        Guarantee at least one site of each kind of the setting (so every scene has labs and
        decoys to tell apart).

    Returns
    -------
    list of Site
        Sites in id order.
    """
    if setting not in DENSITY_PER_100KM2:
        raise InputError(f"unknown setting {setting!r}; settings: rural, industrial")
    rng = np.random.default_rng(seed)
    sites: list[Site] = []
    placed: list[Point] = []  # in one frame for all areas, so distances compare
    anchor = shapely.union_all([p for _, p in areas]).centroid
    frame = LocalFrame.around(anchor.x, anchor.y)
    for name, poly in areas:
        planar = frame.geom_to_xy(poly)
        km2 = planar.area / 1e6
        for kind, density in DENSITY_PER_100KM2[setting].items():
            n = int(rng.poisson(density * km2 / 100.0))
            if min_each and name == areas[0][0]:
                n = max(n, 1)
            for _ in range(n):
                xy = _draw_point(planar, placed, rng)
                if xy is None:
                    continue
                placed.append(Point(xy))
                lon, lat = frame.to_lonlat(np.array([xy]))[0]
                attrs = (
                    _rural_lab(rng)
                    if kind == "rural_lab"
                    else _industrial_lab(rng)
                    if kind == "industrial_lab"
                    else _decoy(kind, rng)
                )
                site_id = f"{prefix}-{len(sites) + 1:03d}"
                sites.append(
                    Site(site_id, kind, name, float(lon), float(lat), **attrs)  # type: ignore[arg-type]
                )
    return sites


def _draw_point(
    planar: Polygon, placed: list[Point], rng: np.random.Generator, tries: int = 200
) -> tuple[float, float] | None:
    minx, miny, maxx, maxy = planar.bounds
    inner = planar.buffer(-200.0)
    shapely.prepare(inner)
    for _ in range(tries):
        p = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if inner.contains(p) and all(p.distance(q) >= 300.0 for q in placed):
            return (p.x, p.y)
    return None
