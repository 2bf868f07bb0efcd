"""Shortest paths of a forward-only aircraft with a minimum turn radius (Dubins curves).

A Dubins path joins two planar poses with at most three pieces, each a left turn (``L``),
a right turn (``R``) at the minimum radius, or a straight (``S``); the shortest one is one of
the six words ``LSL, RSR, LSR, RSL, RLR, LRL`` (Dubins 1957). The closed forms below follow
Shkel & Lumelsky (2001), "Classification of the Dubins set", in the formulation of Andrew
Walker's ``dubins`` C library.

Poses are ``(x, y, heading)``: metres in a local planar frame and radians counter-clockwise
from east (+x).

Examples
--------
>>> import numpy as np
>>> from vigia.plan.dubins import dubins_lengths, dubins_path
>>> float(dubins_lengths(np.array([0.0, 0.0, 0.0]), np.array([1000.0, 0.0, 0.0]), 200.0))
1000.0
>>> path = dubins_path(np.array([0.0, 0.0, 0.0]), np.array([0.0, 400.0, np.pi]), 200.0)
>>> round(path.length, 3)
628.319
"""

# Hand-written: the PyPI ``dubins`` package is an unmaintained 2018 Cython build.

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from vigia.errors import InputError
from vigia.plan.mission import FlightPath

__all__ = [
    "WORDS",
    "dubins_lengths",
    "dubins_path",
    "dubins_segments",
    "sample_word",
]

WORDS: tuple[str, ...] = ("LSL", "RSR", "LSR", "RSL", "RLR", "LRL")
"""The six candidate words, in the order of the word axis of :func:`dubins_segments`."""

_TWO_PI = 2.0 * np.pi
# An angle this close to a full turn is a rounding error of zero; an arc of 2π - 1e-9 rad
# would end within radius·1e-9 of its start anyway.
_SNAP = 1e-9
# Below this (in radii), two turning circles are taken to coincide and atan2 is undefined.
_COINCIDE = 1e-10


def _mod2pi(angle: NDArray[np.float64]) -> NDArray[np.float64]:
    # floor rather than np.mod: the same result here and many times faster.
    wrapped = angle - _TWO_PI * np.floor(angle * (1.0 / _TWO_PI))
    return np.where((wrapped > _TWO_PI - _SNAP) | (wrapped < 0.0), 0.0, wrapped)


def _as_poses(q: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.asarray(q, dtype=np.float64)
    if arr.ndim == 0 or arr.shape[-1] != 3:
        raise InputError(
            f"{name} must have shape (..., 3) of (x m, y m, heading rad), got {arr.shape}"
        )
    return arr


def _check_radius(radius: float) -> float:
    r = float(radius)
    if not np.isfinite(r) or r <= 0.0:
        raise InputError(f"turn radius must be a positive number of metres, got {radius!r}")
    return r


_Word = tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]


def _words(q0: ArrayLike, q1: ArrayLike, radius: float) -> list[_Word]:
    """Pieces ``(t, p, q)`` in radii of the six words, NaN where a word does not exist."""
    r = _check_radius(radius)
    p0, p1 = _as_poses(q0, "q0"), _as_poses(q1, "q1")
    # Trigonometry of the headings on the unbroadcast inputs: for an (N,1)x(1,M) cost
    # matrix that is N + M sines instead of N·M.
    s0, c0 = np.sin(p0[..., 2]), np.cos(p0[..., 2])
    s1, c1 = np.sin(p1[..., 2]), np.cos(p1[..., 2])
    dx = (p1[..., 0] - p0[..., 0]) * (1.0 / r)
    dy = (p1[..., 1] - p0[..., 1]) * (1.0 / r)
    d = np.sqrt(dx * dx + dy * dy)
    # For coincident positions the bearing is undefined; measuring from the start heading
    # makes the identical-pose case come out as a zero-length LSL.
    near = d < _COINCIDE
    with np.errstate(invalid="ignore", divide="ignore"):
        ct = np.where(near, c0, dx / d)
        st = np.where(near, s0, dy / d)
    # alpha and beta: headings relative to the bearing from q0 to q1 (Shkel & Lumelsky).
    ca, sa = c0 * ct + s0 * st, s0 * ct - c0 * st
    cb, sb = c1 * ct + s1 * st, s1 * ct - c1 * st
    a = _mod2pi(np.arctan2(sa, ca))
    b = _mod2pi(np.arctan2(sb, cb))
    cab = ca * cb + sa * sb
    dd = d * d
    words: list[_Word] = []
    with np.errstate(invalid="ignore"):
        # LSL and RSR: p is the distance between circle centres, always defined; computing
        # it from the centres rather than from sqrt(p²) keeps it exact when they coincide.
        x, y = d + sa - sb, cb - ca
        p = np.sqrt(x * x + y * y)
        mid = np.where(p < _COINCIDE, b, np.arctan2(y, x))
        words.append((_mod2pi(mid - a), p, _mod2pi(b - mid)))

        x, y = d - sa + sb, ca - cb
        p = np.sqrt(x * x + y * y)
        mid = np.where(p < _COINCIDE, a, np.arctan2(y, x))
        words.append((_mod2pi(a - mid), p, _mod2pi(mid - b)))

        # LSR and RSL: the inner tangent exists only when the circles do not overlap.
        p2 = -2.0 + dd + 2.0 * cab + 2.0 * d * (sa + sb)
        p = np.sqrt(np.where((p2 < 0.0) & (p2 > -_COINCIDE), 0.0, p2))
        mid = np.arctan2(-ca - cb, d + sa + sb) - np.arctan2(-2.0, p)
        words.append((_mod2pi(mid - a), p, _mod2pi(mid - b)))

        p2 = -2.0 + dd + 2.0 * cab - 2.0 * d * (sa + sb)
        p = np.sqrt(np.where((p2 < 0.0) & (p2 > -_COINCIDE), 0.0, p2))
        mid = np.arctan2(ca + cb, d - sa - sb) - np.arctan2(2.0, p)
        words.append((_mod2pi(a - mid), p, _mod2pi(b - mid)))

        # RLR and LRL: a third circle tangent to both exists only when they are close.
        c = (6.0 - dd + 2.0 * cab + 2.0 * d * (sa - sb)) * 0.125
        c = np.where(np.abs(c) <= 1.0 + _COINCIDE, np.clip(c, -1.0, 1.0), np.nan)
        p = _mod2pi(_TWO_PI - np.arccos(c))
        t = _mod2pi(a - np.arctan2(ca - cb, d - sa + sb) + _mod2pi(p * 0.5))
        words.append((t, p, _mod2pi(a - b - t + p)))

        c = (6.0 - dd + 2.0 * cab + 2.0 * d * (sb - sa)) * 0.125
        c = np.where(np.abs(c) <= 1.0 + _COINCIDE, np.clip(c, -1.0, 1.0), np.nan)
        p = _mod2pi(_TWO_PI - np.arccos(c))
        t = _mod2pi(-a - np.arctan2(ca - cb, d + sa - sb) + p * 0.5)
        words.append((t, p, _mod2pi(b - a - t + p)))
    return words


def dubins_segments(q0: ArrayLike, q1: ArrayLike, radius: float) -> NDArray[np.float64]:
    """Segment lengths of all six Dubins words between pairs of poses.

    Parameters
    ----------
    q0, q1 : (..., 3) array_like of float
        Start and end poses ``(x m, y m, heading rad CCW from east)``; leading dimensions
        broadcast against each other.
    radius : float
        Minimum turn radius in metres.

    Returns
    -------
    (..., 6, 3) ndarray of float64
        For each pair and each word of :data:`WORDS`, the lengths in metres of its three
        pieces; ``NaN`` where the word does not exist for that pair (or a heading is NaN).

    Examples
    --------
    >>> seg = dubins_segments([0.0, 0.0, 0.0], [500.0, 0.0, 0.0], 100.0)
    >>> seg[0].tolist()  # LSL: no turn, 500 m straight, no turn
    [0.0, 500.0, 0.0]
    """
    words = _words(q0, q1, radius)
    out = np.stack([np.stack(np.broadcast_arrays(*w), axis=-1) for w in words], axis=-2)
    # A word is undefined as soon as any of its pieces is.
    out[np.isnan(out).any(axis=-1)] = np.nan
    return out * float(radius)


def dubins_lengths(q0: ArrayLike, q1: ArrayLike, radius: float) -> NDArray[np.float64]:
    """Length of the shortest Dubins path between pairs of poses.

    Parameters
    ----------
    q0, q1 : (..., 3) array_like of float
        Start and end poses ``(x m, y m, heading rad CCW from east)``, e.g. ``(N, 3)`` and
        ``(N, 3)``, ``(3,)`` and ``(N, 3)``, or ``(N, 1, 3)`` and ``(1, M, 3)``.
    radius : float
        Minimum turn radius in metres.

    Returns
    -------
    ndarray of float64
        Path lengths in metres, shaped like the broadcast leading dimensions of ``q0`` and
        ``q1`` (a 0-d array for two single poses); ``NaN`` where a heading is NaN.

    Examples
    --------
    >>> import numpy as np
    >>> q0 = np.zeros((2, 3))
    >>> q1 = np.array([[300.0, 0.0, 0.0], [0.0, 200.0, np.pi]])
    >>> np.round(dubins_lengths(q0, q1, 100.0), 3).tolist()
    [300.0, 314.159]
    """
    best: NDArray[np.float64] | None = None
    for t, p, q in _words(q0, q1, radius):
        # fmin skips the NaN of words that do not exist; LSL and RSR always do.
        total = t + p + q
        best = total if best is None else np.fmin(best, total)
    assert best is not None
    return np.asarray(best * float(radius), dtype=np.float64)


def _fill(
    out: NDArray[np.float64],
    pose: tuple[float, float, float],
    kind: str,
    dist: NDArray[np.float64],
    radius: float,
) -> None:
    """Write into ``out`` the poses ``dist`` metres along one piece flown from ``pose``."""
    x, y, h = pose
    if kind == "S":
        out[:, 0] = x + dist * math.cos(h)
        out[:, 1] = y + dist * math.sin(h)
        out[:, 2] = h
        return
    # Left turns circle the centre on the left, right turns the one on the right.
    side = 1.0 if kind == "L" else -1.0
    hh = h + side * dist / radius
    out[:, 0] = x + side * radius * (np.sin(hh) - math.sin(h))
    out[:, 1] = y - side * radius * (np.cos(hh) - math.cos(h))
    out[:, 2] = hh


def _end(
    pose: tuple[float, float, float], kind: str, dist: float, radius: float
) -> tuple[float, float, float]:
    """Return the pose at the end of one piece of ``dist`` metres flown from ``pose``."""
    x, y, h = pose
    if kind == "S":
        return x + dist * math.cos(h), y + dist * math.sin(h), h
    side = 1.0 if kind == "L" else -1.0
    hh = h + side * dist / radius
    return (
        x + side * radius * (math.sin(hh) - math.sin(h)),
        y - side * radius * (math.cos(hh) - math.cos(h)),
        hh,
    )


def sample_word(
    q0: ArrayLike,
    word: str,
    segments: ArrayLike,
    radius: float,
    step: float,
) -> NDArray[np.float64]:
    """Sample one Dubins word flown from a pose.

    Parameters
    ----------
    q0 : (3,) array_like of float
        Start pose ``(x m, y m, heading rad CCW from east)``.
    word : str
        One of :data:`WORDS`, e.g. ``"LSR"``.
    segments : (3,) array_like of float
        Lengths of the three pieces in metres (a row of :func:`dubins_segments`).
    radius : float
        Turn radius in metres.
    step : float
        Largest distance in metres along the path between consecutive samples.

    Returns
    -------
    (M, 3) ndarray of float64
        Evenly spaced poses lying exactly on the pieces, from ``q0`` to the end of the
        word, headings continuous (not wrapped) from the heading of ``q0``. ``M >= 2``.

    Examples
    --------
    >>> sample_word([0.0, 0.0, 0.0], "LSL", [0.0, 100.0, 0.0], 50.0, 25.0)[:, 0].tolist()
    [0.0, 25.0, 50.0, 75.0, 100.0]
    """
    if word not in WORDS:
        raise InputError(f"unknown Dubins word {word!r}; expected one of {WORDS}")
    r = _check_radius(radius)
    if not step > 0.0:
        raise InputError(f"sampling step must be a positive number of metres, got {step!r}")
    start = _as_poses(q0, "q0").reshape(3)
    seg = np.asarray(segments, dtype=np.float64).reshape(3)
    total = float(seg.sum())
    n = max(math.ceil(total / step - 1e-9), 1)
    s = np.linspace(0.0, total, n + 1)
    # Samples are sorted along the path, so each piece owns one contiguous run of them.
    ends = np.cumsum(seg)
    cut = [0, *np.searchsorted(s, ends[:2], side="left").tolist(), n + 1]
    out = np.empty((n + 1, 3))
    pose = (float(start[0]), float(start[1]), float(start[2]))
    done = 0.0
    for k in range(3):
        if cut[k + 1] > cut[k]:
            _fill(out[cut[k] : cut[k + 1]], pose, word[k], s[cut[k] : cut[k + 1]] - done, r)
        pose = _end(pose, word[k], float(seg[k]), r)
        done += float(seg[k])
    out[0] = start
    return out


def dubins_path(
    q0: ArrayLike, q1: ArrayLike, radius: float, step: float | None = None
) -> FlightPath:
    """Find the shortest Dubins path between two poses and sample it.

    Parameters
    ----------
    q0, q1 : (3,) array_like of float
        Start and end poses ``(x m, y m, heading rad CCW from east)``.
    radius : float
        Minimum turn radius in metres.
    step : float, optional
        Largest distance in metres between consecutive samples; defaults to
        ``min(25, radius / 10)``.

    Returns
    -------
    FlightPath
        Samples lying exactly on the arcs and straights; the first is ``q0`` and the last is
        ``q1`` as given. Headings in between run continuously from the heading of ``q0`` (so
        the last computed heading may differ from ``q1``'s by a multiple of 2π). ``length``
        is the exact curve length in metres.

    Raises
    ------
    InputError
        If a pose is not finite, or the radius or step is not positive.

    Examples
    --------
    >>> p = dubins_path([0.0, 0.0, 0.0], [1000.0, 0.0, 0.0], 200.0)
    >>> p.length, p.poses.shape
    (1000.0, (51, 3))
    """
    a0 = _as_poses(q0, "q0").reshape(-1)
    a1 = _as_poses(q1, "q1").reshape(-1)
    if a0.shape != (3,) or a1.shape != (3,):
        raise InputError("dubins_path joins two single poses of shape (3,)")
    if not (np.isfinite(a0).all() and np.isfinite(a1).all()):
        raise InputError(f"poses must be finite, got {a0.tolist()} and {a1.tolist()}")
    r = _check_radius(radius)
    step_m = min(25.0, r / 10.0) if step is None else float(step)
    # Totals summed as in dubins_lengths, so both agree to the last bit.
    words = _words(a0, a1, r)
    totals = np.array([float((t + p + q) * r) for t, p, q in words])
    k = int(np.nanargmin(totals))
    seg = np.array([float(v) * r for v in words[k]])
    poses = sample_word(a0, WORDS[k], seg, r, step_m)
    # The flown end misses q1 by rounding (µm after a loop of km): spread that gap evenly along
    # the path instead of moving the last point alone, which would kink the final turn.
    gap = a1[:2] - poses[-1, :2]
    poses[:, :2] += np.linspace(0.0, 1.0, len(poses))[:, None] * gap
    poses[-1] = a1
    return FlightPath(poses=poses, length=float(totals[k]))
