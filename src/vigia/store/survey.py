"""The agency's survey collections as GeoJSON: flight lines searched and raw detections.

These are the agency's own working data; a partner never reads them. Every function checks
the principal first (a partner gets the same :class:`~vigia.errors.NotFoundError` as for a
collection that does not exist) and then pages the tables with the same box and time
filters as the sites (``vigia serve``'s ``/collections/flight_lines`` and
``/collections/detections``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.orm import Session

from vigia.errors import NotFoundError
from vigia.store.access import Principal
from vigia.store.models import DetectionRow, FlightLine
from vigia.store.records import BBox

__all__ = ["SURVEY_COLLECTIONS", "get_survey_feature", "list_survey_features"]

SURVEY_COLLECTIONS: Final = ("flight_lines", "detections")
"""Collections only the agency reads."""


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _line_feature(fl: FlightLine) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": str(fl.id),
        "geometry": json.loads(fl.footprint),
        "properties": {
            "line_id": fl.line_id,
            "sensor": fl.sensor,
            "time_start": _iso(fl.time_start),
            "time_end": _iso(fl.time_end),
            "area_km2": fl.area_km2,
            "pixel_size_m": fl.pixel_size_m,
            "rows": fl.rows,
            "cols": fl.cols,
        },
    }


def _detection_feature(d: DetectionRow, line_id: str) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": str(d.id),
        "geometry": json.loads(d.footprint),
        "properties": {
            "detection_id": d.detection_id,
            "line_id": line_id,
            "kind": d.kind,
            "sensor": d.sensor,
            "time": _iso(d.time),
            "lon": d.lon,
            "lat": d.lat,
            "score": d.score,
            "species": list(d.species),
            "enhancement_ppm_m": d.enhancement_ppm_m,
            "emission_kg_h": d.emission_kg_h,
            "emission_kg_h_sigma": d.emission_kg_h_sigma,
            "delta_t_k": d.delta_t_k,
            "area_m2": d.area_m2,
        },
    }


def _box(model: type[FlightLine] | type[DetectionRow], bbox: BBox) -> list[ColumnElement[bool]]:
    x0, y0, x1, y1 = bbox
    return [model.max_lon >= x0, model.min_lon <= x1, model.max_lat >= y0, model.min_lat <= y1]


_AnySelect = Select[*tuple[Any, ...]]


def _query(
    cid: str, bbox: BBox | None, start: datetime | None, end: datetime | None
) -> tuple[_AnySelect, Callable[[Any], dict[str, Any]]]:
    conditions: list[ColumnElement[bool]] = []
    if cid == "flight_lines":
        if bbox is not None:
            conditions += _box(FlightLine, bbox)
        if start is not None:
            conditions.append(func.coalesce(FlightLine.time_end, FlightLine.time_start) >= start)
        if end is not None:
            conditions.append(FlightLine.time_start <= end)
        q: _AnySelect = select(FlightLine).where(and_(True, *conditions)).order_by(FlightLine.id)
        return q, lambda row: _line_feature(row[0])
    if bbox is not None:
        conditions += _box(DetectionRow, bbox)
    if start is not None:
        conditions.append(DetectionRow.time >= start)
    if end is not None:
        conditions.append(DetectionRow.time <= end)
    q = (
        select(DetectionRow, FlightLine.line_id)
        .join(FlightLine, DetectionRow.line_id == FlightLine.id)
        .where(and_(True, *conditions))
        .order_by(DetectionRow.id)
    )
    return q, lambda row: _detection_feature(row[0], row[1])


def _require(p: Principal, cid: str) -> None:
    if cid not in SURVEY_COLLECTIONS or not p.is_agency:
        raise NotFoundError(f"collection {cid!r} does not exist for {p.org}")


def list_survey_features(
    session: Session,
    p: Principal,
    cid: str,
    *,
    bbox: BBox | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Return one page of a survey collection as GeoJSON features, and how many match.

    Parameters
    ----------
    session : Session
        An open session.
    p : Principal
        Who asks (the agency only).
    cid : {"flight_lines", "detections"}
        The collection.
    bbox : tuple of float, optional
        ``(min_lon, min_lat, max_lon, max_lat)``, degrees: features whose box meets it.
    start, end : datetime, optional
        Features imaged within ``[start, end]`` (UTC-aware).
    limit, offset : int
        Page size and features to skip.

    Returns
    -------
    (list of dict, int)
        The features and the number matched.

    Raises
    ------
    NotFoundError
        For a partner, or a collection that is not a survey collection.
    """
    _require(p, cid)
    q, feature = _query(cid, bbox, start, end)
    total = int(session.scalar(select(func.count()).select_from(q.order_by(None).subquery())) or 0)
    rows = session.execute(q.limit(limit).offset(offset)).all()
    return [feature(row) for row in rows], total


def get_survey_feature(session: Session, p: Principal, cid: str, fid: str) -> dict[str, Any]:
    """Return one feature of a survey collection by its id.

    Parameters
    ----------
    session : Session
        An open session.
    p : Principal
        Who asks (the agency only).
    cid : {"flight_lines", "detections"}
        The collection.
    fid : str
        The feature's id (the row's number, as the collection's pages give it).

    Returns
    -------
    dict
        The GeoJSON feature.

    Raises
    ------
    NotFoundError
        For a partner, an unknown collection, or a feature that does not exist.
    """
    _require(p, cid)
    if not fid.isdigit() or len(fid) > 18:
        raise NotFoundError(f"{cid} feature {fid!r} does not exist")
    q, feature = _query(cid, None, None, None)
    model = FlightLine if cid == "flight_lines" else DetectionRow
    row = session.execute(q.where(model.id == int(fid))).one_or_none()
    if row is None:
        raise NotFoundError(f"{cid} feature {fid!r} does not exist")
    return feature(row)
