"""What a mission achieves, measured on the mission itself: coverage, clearance, turns."""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

from vigia.geo import LocalFrame
from vigia.plan.metrics import covered_fraction, length_inside, min_turn_radius
from vigia.plan.mission import Mission

__all__ = ["mission_summary"]


def mission_summary(mission: Mission) -> dict[str, Any]:
    """Measure a mission in its planar frame and summarise it as plain data.

    Parameters
    ----------
    mission : Mission
        A planned mission.

    Returns
    -------
    dict
        Per sortie: length, duration, lines, areas, metres inside restricted airspace and the
        tightest turn; per area: imaged fraction of what may be imaged; the revisit schedule.
    """
    frame = LocalFrame(mission.epsg)
    blocked = shapely.union_all([frame.geom_to_xy(z.polygon) for z in mission.restricted])
    sorties = []
    for s in mission.sorties:
        xy = frame.to_xy(s.route)
        sorties.append(
            {
                "sortie": s.index,
                "length_km": round(s.length_m / 1000.0, 3),
                "duration_h": round(s.duration_s / 3600.0, 3),
                "lines": len(s.lines),
                "areas": list(s.areas),
                "inside_restricted_m": round(length_inside(xy, blocked), 1),
                "tightest_turn_m": round(min_turn_radius(xy), 1),
            }
        )
    areas = []
    for name, poly in mission.areas:
        target = frame.geom_to_xy(poly).difference(blocked)
        lines = [
            tuple(map(tuple, frame.to_xy(np.array([ln.start, ln.end]))))
            for ln in mission.lines
            if ln.area == name
        ]
        frac = covered_fraction(lines, mission.swath_m, target) if target.area > 0 else 0.0  # type: ignore[arg-type]
        areas.append(
            {"area": name, "area_km2": round(target.area / 1e6, 3), "covered": round(frac, 5)}
        )
    return {
        "name": mission.name,
        "partner": mission.partner,
        "base": mission.base[0] if mission.base else None,
        "approval": mission.approval,
        "approval_ref": mission.approval_ref,
        "platform": mission.platform,
        "sensors": list(mission.sensors),
        "altitude_m": mission.altitude_m,
        "swath_m": round(mission.swath_m, 1),
        "sidelap": mission.sidelap,
        "turn_radius_m": round(mission.turn_radius_m, 1),
        "restricted_zones": len(mission.restricted),
        "sorties": sorties,
        "areas": areas,
        "revisits": [
            {"sortie": r.sortie, "due": r.due.strftime("%Y-%m-%dT%H:%M:%SZ"), "reason": r.reason}
            for r in mission.revisits
        ],
    }
