"""Which detections are of the same place: location uncertainty, gates and clustering.

A detection is a point (a plume's source, a fire's hottest pixel, a tarp's centre) with an
uncertainty that follows its detector and the pixel size of its line:

* **plume**: the source estimate, ~2 pixels (the detection goal's median error) plus half a
  pixel per 10 m of plume length beyond 20 pixels (long plumes blur their upwind end);
* **thermal**: the hottest pixel, 1 pixel;
* **tarp** and **clearing**: the object's centre, 1 and 1.5 pixels plus a quarter of its
  width (a tarp's centre is not where the burner under it is).

A plume that enters its line at the edge (``source_in_view`` false: its source lies upwind,
unseen), or that starts in the path of a larger plume of its line or of another pass (a puff
of it, or its own start missed: :func:`in_a_larger_plumes_path`), has no place of its own:
it joins a place within ``UNPLACED_SIGMA_M`` of it, or none.

Two detections are of one place when their distance is within ``GATE_SIGMA`` of the combined
uncertainty plus the extent of a site (``SITE_EXTENT_M``: a lab's fire, vent and cover lie a
few tens of metres apart). Clustering is greedy and deterministic: detections are taken from
the most precisely located to the least, each joins the nearest site whose gate it passes
or starts a new one. Sites hundreds of metres apart (a lab that moved) stay apart.

A site's position is the inverse-variance weighted mean of its members, except that a plume's
source estimate counts as one-sided along its wind (:func:`source_position`): its visible start
may lie well downwind of the source (a stack on a noisy roof), hardly upwind, so passes under
different winds place the site where their plumes' upwind rays meet.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from vigia.detect.detection import Detection

__all__ = [
    "GATE_SIGMA",
    "HIDDEN_START_M",
    "MIN_SIGMA_M",
    "PATH_DAYS",
    "PATH_MAX_M",
    "PATH_SPREAD",
    "SITE_EXTENT_M",
    "UNPLACED_SIGMA_M",
    "WIND_DIRECTION_SIGMA_DEG",
    "Cluster",
    "cluster_detections",
    "distance_m",
    "in_a_larger_plumes_path",
    "location_sigma_m",
    "source_position",
]

GATE_SIGMA: Final = 3.0
SITE_EXTENT_M: Final = 25.0
#: Floor of any location uncertainty: pass-to-pass georeferencing (pointing, DEM), m.
MIN_SIGMA_M: Final = 8.0
#: Location uncertainty given to a plume whose source was not in view (it entered its line at
#: the edge), m: it joins a place within the gate of that, never starts one.
UNPLACED_SIGMA_M: Final = 100.0
#: Plume spread σ_y / distance of the reach of a larger plume's gas (Briggs class C–D).
PATH_SPREAD: Final = 0.12
#: Farthest a larger plume's path is followed, m.
PATH_MAX_M: Final = 3000.0
#: Passes at most this far apart in time mark each other's plume paths, days.
PATH_DAYS: Final = 7.0
#: One-sigma of how far downwind of its source a plume's visible start may lie, m (a stack on
#: a roof whose retrieval noise hides the first ~100 m of its plume; :func:`source_position`).
HIDDEN_START_M: Final = 150.0
#: One-sigma error of the analysed wind's direction, degrees (the simulated analysis' 15°).
WIND_DIRECTION_SIGMA_DEG: Final = 15.0
_EARTH_M_PER_DEG: Final = 111_195.0


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Ground distance between two nearby points, m (equirectangular; < 0.1 % over km).

    Examples
    --------
    >>> round(distance_m(-107.3, 25.0, -107.3, 25.001))
    111
    """
    dy = (lat2 - lat1) * _EARTH_M_PER_DEG
    dx = (lon2 - lon1) * _EARTH_M_PER_DEG * math.cos(math.radians(0.5 * (lat1 + lat2)))
    return math.hypot(dx, dy)


def _pixel_m(d: Detection) -> float:
    # A detection's pixel side from its area and pixel count, m.
    return math.sqrt(max(d.area_m2, 1.0) / max(d.n_pixels, 1))


def location_sigma_m(d: Detection, pixel_m: float | None = None) -> float:
    """One-sigma location uncertainty of a detection, m.

    Parameters
    ----------
    d : Detection
        The detection.
    pixel_m : float, optional
        Pixel size of its line, m (default: from its area and pixel count).

    Returns
    -------
    float
    """
    px = pixel_m if pixel_m else _pixel_m(d)
    width = math.sqrt(max(d.area_m2, 0.0))
    if d.kind == "plume":
        extra = 0.5 * max(0.0, (d.length_m or 0.0) / px - 20.0) / 10.0
        sigma = (2.0 + extra) * px
    elif d.kind == "thermal":
        sigma = 1.0 * px
    elif d.kind == "tarp":
        sigma = 1.0 * px + 0.25 * width
    else:
        sigma = 1.5 * px + 0.25 * width
    return max(sigma, MIN_SIGMA_M)


@dataclass
class Cluster:
    """Detections of one place.

    Attributes
    ----------
    members : list of Detection
        The detections.
    sigmas : list of float
        Their location uncertainties, m.
    lon, lat : float
        Position of the place, degrees (:meth:`add`).
    sigma_m : float
        Uncertainty of that position, m.
    """

    members: list[Detection] = field(default_factory=list)
    sigmas: list[float] = field(default_factory=list)
    lon: float = math.nan
    lat: float = math.nan
    sigma_m: float = math.inf
    #: Members whose along-wind error is one-sided (placed plumes with a wind).
    upwind: list[bool] = field(default_factory=list)

    def add(self, d: Detection, sigma: float, *, one_sided: bool = False) -> None:
        """Add a detection and update the position.

        Parameters
        ----------
        d : Detection
            The detection.
        sigma : float
            Its location uncertainty, m.
        one_sided : bool
            ``d`` is a plume's source estimate with a wind: the place may lie well upwind
            of it (its visible start may be downwind of its source), hardly downwind
            (:func:`source_position`).
        """
        self.members.append(d)
        self.sigmas.append(sigma)
        self.upwind.append(one_sided and d.wind_from_deg is not None)
        w = [1.0 / s**2 for s in self.sigmas]
        total = sum(w)
        if any(self.upwind):
            self.lon, self.lat = source_position(self.members, self.sigmas, self.upwind)
        else:
            self.lon = sum(wi * m.lon for wi, m in zip(w, self.members, strict=True)) / total
            self.lat = sum(wi * m.lat for wi, m in zip(w, self.members, strict=True)) / total
        self.sigma_m = max(1.0 / math.sqrt(total), MIN_SIGMA_M / 2.0)

    def gate_m(self, sigma: float) -> float:
        """How far a detection of this uncertainty may lie and still join, m."""
        return GATE_SIGMA * math.hypot(sigma, self.sigma_m) + SITE_EXTENT_M


def source_position(
    members: Sequence[Detection], sigmas: Sequence[float], upwind: Sequence[bool]
) -> tuple[float, float]:
    """Position of a place from its detections, plumes' along-wind errors taken as one-sided.

    A plume is seen from where its column first clears the noise, which lies at or downwind of
    its source: far downwind where the ground under the source is noisy (a stack on a busy
    roof) or the start is thin. Across the wind, and upwind, its error is the detector's
    ``sigma``. So for a member flagged in ``upwind`` the residual ``r = p - s`` (estimate
    minus place) costs ``(r·u / HIDDEN_START_M)²`` along the wind ``u`` when positive (the
    estimate downwind of the place), ``(r·u / sigma)²`` when negative, and
    ``(r·n)² / (sigma² + (tan(WIND_DIRECTION_SIGMA_DEG) · max(r·u, 0))²)`` across it (the
    analysed wind's direction error grows with distance). Other members cost ``|r|²/sigma²``.
    Passes under different winds then meet at their plumes' common upwind point, not at the
    mean of their visible starts. Solved by iteratively reweighted least squares from the
    inverse-variance mean.

    Parameters
    ----------
    members : sequence of Detection
        The place's detections.
    sigmas : sequence of float
        Their location uncertainties, m.
    upwind : sequence of bool
        Which members are plume sources with a one-sided along-wind error.

    Returns
    -------
    tuple of float
        lon, lat, degrees.

    Examples
    --------
    Two passes of one stack, each seen 60 m downwind under winds from the west and the south:

    >>> from types import SimpleNamespace as Seen  # only lon, lat and wind are read
    >>> m = 1.0 / 111_195.0
    >>> def plume(dlon, dlat, wind_from):
    ...     return Seen(lon=dlon, lat=dlat, wind_from_deg=wind_from)
    >>> seen = [plume(60 * m, 0, 270), plume(0, 60 * m, 180)]
    >>> lon, lat = source_position(seen, [10.0, 10.0], [True, True])
    >>> round(lon / m), round(lat / m)  # metres east and north of the stack; the mean is (30, 30)
    (1, 1)
    """
    lat0 = sum(m.lat for m in members) / len(members)
    kx = _EARTH_M_PER_DEG * math.cos(math.radians(lat0))
    lon0 = sum(m.lon for m in members) / len(members)
    pts = [((m.lon - lon0) * kx, (m.lat - lat0) * _EARTH_M_PER_DEG) for m in members]
    axes: list[tuple[float, float] | None] = []
    for m, one in zip(members, upwind, strict=True):
        if one and m.wind_from_deg is not None:
            to = math.radians(m.wind_from_deg + 180.0)
            axes.append((math.sin(to), math.cos(to)))
        else:
            axes.append(None)
    w = [1.0 / s**2 for s in sigmas]
    x = sum(wi * p[0] for wi, p in zip(w, pts, strict=True)) / sum(w)
    y = sum(wi * p[1] for wi, p in zip(w, pts, strict=True)) / sum(w)
    tan_dir = math.tan(math.radians(WIND_DIRECTION_SIGMA_DEG))
    for _ in range(50):
        a11 = a12 = a22 = b1 = b2 = 0.0
        for (px, py), s, ax in zip(pts, sigmas, axes, strict=True):
            if ax is None:
                i11, i12, i22 = 1.0 / s**2, 0.0, 1.0 / s**2
            else:
                ux, uy = ax
                along = (px - x) * ux + (py - y) * uy
                s_along = HIDDEN_START_M if along > 0.0 else s
                s_cross2 = s**2 + (tan_dir * max(along, 0.0)) ** 2
                ia, ic = 1.0 / s_along**2, 1.0 / s_cross2
                i11 = ia * ux * ux + ic * uy * uy
                i12 = (ia - ic) * ux * uy
                i22 = ia * uy * uy + ic * ux * ux
            a11, a12, a22 = a11 + i11, a12 + i12, a22 + i22
            b1, b2 = b1 + i11 * px + i12 * py, b2 + i12 * px + i22 * py
        det = a11 * a22 - a12 * a12
        nx, ny = (a22 * b1 - a12 * b2) / det, (a11 * b2 - a12 * b1) / det
        done = math.hypot(nx - x, ny - y) < 0.05
        x, y = nx, ny
        if done:
            break
    return lon0 + x / kx, lat0 + y / _EARTH_M_PER_DEG


def in_a_larger_plumes_path(detections: Sequence[Detection]) -> list[bool]:
    """Which plumes start in the path of a larger plume, of their own line or another pass.

    A plume whose source lies downwind of where a larger plume starts (its source, or where
    it came into view), sharing a gas, within the ±30° cone that the wind's uncertainty and
    the plume's meander allow (plus three pixels) and within the larger plume's reach, is
    most likely a puff or the tail of it: the place it points at is not a source.

    * **Same line and sensor**: larger by integrated mass; the cone and wind are the line's.
    * **Another pass** (any line, within ``PATH_DAYS``; the larger plume's source in view):
      larger by emission rate; the cone follows the smaller plume's own wind, since the gas
      it saw left the larger source under that wind. A large source found in one pass marks
      where its gas goes in the others, where its own start may have been missed.

    The reach is the farther of twice the larger plume's length and where its gas is still
    as dense as the piece: a plume carrying M′ kg per metre along the wind (IME / L in its
    own line, Q / u under the piece's wind) spread as σ_y = a s (``PATH_SPREAD``, Briggs'
    class C–D) has a centre-line column M′ / (√(2π) a s), which falls to the piece's mean
    column at s = M′ / (√(2π) a c). So a landfill's gas is a landfill's a kilometre downwind,
    a small vent's is not at a hundred metres. Plumes without a wind are never judged.

    Parameters
    ----------
    detections : sequence of Detection
        Detections of any kinds and lines.

    Returns
    -------
    list of bool
        One flag per detection, True for such plumes.

    Examples
    --------
    >>> in_a_larger_plumes_path([])
    []
    """
    out = [False] * len(detections)
    # Only plumes of one line and sensor are compared: group them first.
    by_line: dict[tuple[str, str], list[int]] = {}
    for i, d in enumerate(detections):
        if d.kind == "plume" and d.wind_from_deg is not None:
            by_line.setdefault((d.line_id, d.sensor), []).append(i)
    for plumes in by_line.values():
        plumes.sort(key=lambda i: -(detections[i].ime_kg or 0.0))
        for rank, i in enumerate(plumes):
            d = detections[i]
            if d.source_in_view:
                out[i] = any(_in_path(d, detections[j]) for j in plumes[:rank] if not out[j])
    # Across passes: plumes with a rate, largest first, looked up on a grid of cells as
    # wide as the farthest reach.
    rated = sorted(
        (i for ids in by_line.values() for i in ids if detections[i].emission_kg_h),
        key=lambda i: -(detections[i].emission_kg_h or 0.0),
    )
    cells: dict[tuple[int, int], list[int]] = {}
    for i in rated:
        d = detections[i]
        if not d.source_in_view or out[i]:
            continue
        cx, cy = _cell(d.lon, d.lat, PATH_MAX_M)
        out[i] = any(
            _in_path_of_source(d, detections[j])
            for gx in (cx - 1, cx, cx + 1)
            for gy in (cy - 1, cy, cy + 1)
            for j in cells.get((gx, gy), ())
        )
        if not out[i]:
            cells.setdefault((cx, cy), []).append(i)
    return out


def _cell(lon: float, lat: float, size_m: float) -> tuple[int, int]:
    # The square of a grid size_m wide that holds (lon, lat) (equirectangular metres).
    y = lat * _EARTH_M_PER_DEG
    x = lon * _EARTH_M_PER_DEG * math.cos(math.radians(lat))
    return (math.floor(x / size_m), math.floor(y / size_m))


def _dense_reach(mass_per_m: float, d: Detection) -> float:
    # Distance at which a plume of mass_per_m (kg/m) thins to d's mean column, m.
    if not (d.ime_kg and d.ime_kg > 0 and d.area_m2 > 0 and mass_per_m > 0):
        return 0.0
    column = d.ime_kg / d.area_m2
    return min(mass_per_m / (math.sqrt(2.0 * math.pi) * PATH_SPREAD * column), PATH_MAX_M)


def _cone(d: Detection, lon: float, lat: float, to_deg: float, reach: float, px: float) -> bool:
    # Whether d lies downwind of (lon, lat), wind blowing to to_deg, within reach and the cone.
    to = math.radians(to_deg)
    ux, uy = math.sin(to), math.cos(to)
    dy = (d.lat - lat) * _EARTH_M_PER_DEG
    dx = (d.lon - lon) * _EARTH_M_PER_DEG * math.cos(math.radians(d.lat))
    along = dx * ux + dy * uy
    across = abs(-dx * uy + dy * ux)
    return 0.0 < along <= reach and across <= 3.0 * px + 0.58 * along


def _in_path(d: Detection, big: Detection) -> bool:
    # Whether plume d starts in the path of the larger plume big (same line and sensor).
    if not set(big.species) & set(d.species) or big.wind_from_deg is None:
        return False
    if (big.ime_kg or 0.0) <= (d.ime_kg or 0.0):
        return False
    length = big.length_m or 0.0
    mass_per_m = (big.ime_kg or 0.0) / length if length > 0 else 0.0
    reach = max(2.0 * length, _dense_reach(mass_per_m, d))
    return _cone(d, big.lon, big.lat, big.wind_from_deg + 180.0, reach, _pixel_m(big))


def _in_path_of_source(d: Detection, big: Detection) -> bool:
    # Whether plume d (another line) starts where, under d's own wind, big's gas would go.
    if d.line_id == big.line_id or not set(big.species) & set(d.species):
        return False
    if d.wind_from_deg is None or not d.wind_speed_m_s or d.wind_speed_m_s <= 0:
        return False
    if abs((d.time - big.time).total_seconds()) > PATH_DAYS * 86_400.0:
        return False
    q_big, q = big.emission_kg_h or 0.0, d.emission_kg_h or 0.0
    if q_big <= q:
        return False
    reach = _dense_reach(q_big / 3600.0 / d.wind_speed_m_s, d)
    return _cone(d, big.lon, big.lat, d.wind_from_deg + 180.0, reach, _pixel_m(d))


def cluster_detections(
    detections: Sequence[Detection], pixel_m: dict[tuple[str, str], float] | None = None
) -> list[Cluster]:
    """Group detections into places.

    Parameters
    ----------
    detections : sequence of Detection
        Detections of any lines, passes and sensors.
    pixel_m : dict, optional
        ``(line_id, sensor) → pixel size`` (from the searched lines), m.

    Returns
    -------
    list of Cluster
        In order of creation (deterministic for a given input).

    Examples
    --------
    >>> cluster_detections([])
    []
    """
    px = pixel_m or {}
    sig = [location_sigma_m(d, px.get((d.line_id, d.sensor))) for d in detections]
    # A plume that entered its line at the edge has no source in view, and one starting in a
    # larger plume's path is a piece of it: either may support a place found otherwise but
    # does not make one, and comes last.
    downwind = in_a_larger_plumes_path(detections)
    unplaced = [
        d.kind == "plume" and (not d.source_in_view or dw)
        for d, dw in zip(detections, downwind, strict=True)
    ]
    sig = [max(s, UNPLACED_SIGMA_M) if u else s for s, u in zip(sig, unplaced, strict=True)]
    order = sorted(
        range(len(detections)), key=lambda i: (unplaced[i], sig[i], -detections[i].score, i)
    )
    clusters: list[Cluster] = []
    # A grid of cells as wide as the widest gate, so each detection looks at the clusters of
    # its own and the eight neighbouring cells only.
    cell_m = max((GATE_SIGMA * math.hypot(s, s) + SITE_EXTENT_M for s in sig), default=1.0)
    grid: dict[tuple[int, int], list[Cluster]] = {}
    where: dict[int, tuple[int, int]] = {}
    rank_of: dict[int, int] = {}

    def place(c: Cluster) -> None:
        old = where.get(id(c))
        new = _cell(c.lon, c.lat, cell_m)
        if old == new:
            return
        if old is not None:
            grid[old].remove(c)
        grid.setdefault(new, []).append(c)
        where[id(c)] = new

    for i in order:
        d, s = detections[i], sig[i]
        cx, cy = _cell(d.lon, d.lat, cell_m)
        best: tuple[float, int, Cluster] | None = None
        for gx in (cx - 1, cx, cx + 1):
            for gy in (cy - 1, cy, cy + 1):
                for c in grid.get((gx, gy), ()):
                    dist = distance_m(d.lon, d.lat, c.lon, c.lat)
                    if dist <= c.gate_m(s):
                        norm = dist / math.hypot(s, c.sigma_m)
                        rank = rank_of[id(c)]
                        if best is None or (norm, rank) < (best[0], best[1]):
                            best = (norm, rank, c)
        if best is None and unplaced[i]:
            continue
        one_sided = d.kind == "plume" and not unplaced[i]
        if best is None:
            c = Cluster()
            c.add(d, s, one_sided=one_sided)
            rank_of[id(c)] = len(clusters)
            clusters.append(c)
        else:
            c = best[2]
            c.add(d, s, one_sided=one_sided)
        place(c)
    return clusters
