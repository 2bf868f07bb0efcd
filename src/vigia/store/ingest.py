"""Taking detection files into the store: all of a file in one transaction, or none of it.

A file is known by the SHA-256 of its bytes; ingesting it again changes nothing and says so.
Everything that can be checked without the database (schema, coordinates, times, that every
detection's line is listed) is checked before the transaction begins.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigia.detect.detection import Detection, SearchedLine, read_detections
from vigia.errors import FileFormatError
from vigia.store.db import SessionFactory, read_session, write_session
from vigia.store.models import DetectionRow, FlightLine, Ingest
from vigia.store.records import BBox

__all__ = ["IngestResult", "file_sha256", "ingest_detections", "ingest_files"]

_DETECTIONS = cast(Table, DetectionRow.__table__)  # Core executemany: no ORM grouping of rows

Progress = Callable[[int, int], None]
"""Called as ``progress(written, total)`` inside the transaction after each batch is written."""


@dataclass(frozen=True)
class IngestResult:
    """What an ingest did.

    Attributes
    ----------
    ingest_id : int
        The ingest's key (the earlier one when the file was already ingested).
    sha256 : str
        The file's SHA-256, hex.
    path : Path
        The file.
    n_lines : int
        Lines the file lists.
    n_new_lines : int
        Of those, lines the store did not hold before.
    n_detections : int
        Detections stored with this ingest.
    already_ingested : bool
        True when the same bytes had been ingested before and nothing was written.
    ingested_at : datetime
        When the file was (first) ingested, UTC.
    """

    ingest_id: int
    sha256: str
    path: Path
    n_lines: int
    n_new_lines: int
    n_detections: int
    already_ingested: bool
    ingested_at: datetime

    def summary(self) -> str:
        """Say what happened in one line."""
        if self.already_ingested:
            return (
                f"{self.path}: already ingested (ingest {self.ingest_id}, "
                f"{self.ingested_at:%Y-%m-%dT%H:%M:%SZ}); nothing written"
            )
        return (
            f"{self.path}: ingest {self.ingest_id}: {self.n_detections} detections, "
            f"{self.n_lines} lines ({self.n_new_lines} new)"
        )


def file_sha256(path: Path) -> str:
    """Return the SHA-256 of a file's bytes, hex.

    Raises
    ------
    FileFormatError
        If the file cannot be read.
    """
    digest = hashlib.sha256()
    try:
        with Path(path).open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return digest.hexdigest()


_GEOMETRY_DEPTH = {
    "Point": 0,
    "MultiPoint": 1,
    "LineString": 1,
    "MultiLineString": 2,
    "Polygon": 2,
    "MultiPolygon": 3,
}


def _positions(coordinates: Any, depth: int) -> Iterable[Any]:
    if depth == 0:
        yield coordinates
        return
    if not isinstance(coordinates, list):
        raise TypeError(f"expected a list of positions, got {type(coordinates).__name__}")
    for item in coordinates:
        yield from _positions(item, depth - 1)


def _bounds(geometry: Any, where: str) -> BBox:
    # Walked by hand: building a shapely geometry per feature was half of the ingest time.
    try:
        if geometry.get("type") == "GeometryCollection":
            parts = [_bounds(g, where) for g in geometry["geometries"]]
            return (
                min(b[0] for b in parts),
                min(b[1] for b in parts),
                max(b[2] for b in parts),
                max(b[3] for b in parts),
            )
        depth = _GEOMETRY_DEPTH[geometry["type"]]
        lons, lats = [], []
        for position in _positions(geometry["coordinates"], depth):
            if not isinstance(position, list) or len(position) < 2:
                raise TypeError(f"position {position!r} is not [lon, lat]")
            lons.append(float(position[0]))
            lats.append(float(position[1]))
        bounds = (min(lons), min(lats), max(lons), max(lats))
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise FileFormatError(
            f"{where}: footprint is not a GeoJSON geometry ({type(exc).__name__}: {exc})"
        ) from None
    min_lon, min_lat, max_lon, max_lat = bounds
    if not all(math.isfinite(v) for v in bounds) or not (
        -180.0 <= min_lon and max_lon <= 180.0 and -90.0 <= min_lat and max_lat <= 90.0
    ):
        raise FileFormatError(
            f"{where}: footprint coordinate out of range (bounds {bounds}; GeoJSON is lon, lat "
            "with lon -180…180 and lat -90…90)"
        )
    return bounds


def _time(text: str, where: str) -> datetime | None:
    if not text:
        return None  # the line's cube carried no time
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise FileFormatError(f"{where}: time {text!r} is not ISO 8601") from None
    if t.tzinfo is None:
        raise FileFormatError(f"{where}: time {text!r} has no time zone (write UTC with Z)")
    return t.astimezone(UTC)


def _line_rows(path: Path, lines: list[SearchedLine]) -> dict[tuple[str, str], dict[str, Any]]:
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for k, ln in enumerate(lines):
        where = f"{path}: line {k} ({ln.line_id!r}, {ln.sensor})"
        key = (ln.line_id, ln.sensor)
        if key in rows:
            raise FileFormatError(f"{where}: listed twice")
        min_lon, min_lat, max_lon, max_lat = _bounds(ln.footprint, where)
        rows[key] = {
            "line_id": ln.line_id,
            "sensor": ln.sensor,
            "time_start": _time(ln.time_start, f"{where}: time_start"),
            "time_end": _time(ln.time_end, f"{where}: time_end"),
            "footprint": json.dumps(ln.footprint, separators=(",", ":")),
            "area_km2": ln.area_km2,
            "pixel_size_m": ln.pixel_size_m,
            "rows": ln.shape[0],
            "cols": ln.shape[1],
            "min_lon": min_lon,
            "min_lat": min_lat,
            "max_lon": max_lon,
            "max_lat": max_lat,
        }
    return rows


def _detection_rows(
    path: Path, detections: list[Detection], lines: dict[tuple[str, str], dict[str, Any]]
) -> list[dict[str, Any]]:
    rows = []
    seen: set[str] = set()
    for k, d in enumerate(detections):
        where = f"{path}: feature {k} (detection {d.id!r})"
        if d.id in seen:
            raise FileFormatError(f"{where}: id used by an earlier feature")
        seen.add(d.id)
        if (d.line_id, d.sensor) not in lines:
            raise FileFormatError(
                f"{where}: line {d.line_id!r} ({d.sensor}) is not among the file's lines"
            )
        if d.time.tzinfo is None:
            raise FileFormatError(f"{where}: time {d.time.isoformat()} has no time zone")
        min_lon, min_lat, max_lon, max_lat = _bounds(d.footprint, where)
        rows.append(
            {
                "detection_id": d.id,
                "line_key": (d.line_id, d.sensor),
                "kind": d.kind,
                "sensor": d.sensor,
                "time": d.time.astimezone(UTC),
                "lon": d.lon,
                "lat": d.lat,
                "score": d.score,
                "species": list(d.species),
                "enhancement_ppm_m": d.enhancement_ppm_m,
                "emission_kg_h": d.emission_kg_h,
                "emission_kg_h_sigma": d.emission_kg_h_sigma,
                "delta_t_k": d.delta_t_k,
                "area_m2": d.area_m2,
                "properties": d.model_dump(mode="json", exclude={"lon", "lat", "footprint"}),
                "footprint": json.dumps(d.footprint, separators=(",", ":")),
                "min_lon": min_lon,
                "min_lat": min_lat,
                "max_lon": max_lon,
                "max_lat": max_lat,
            }
        )
    return rows


def _batches(rows: list[dict[str, Any]], size: int) -> Iterable[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _line_pk(session: Session, row: dict[str, Any]) -> tuple[int, bool]:
    """Return the stored line's key, storing it first if it is new (and whether it was)."""
    query = select(FlightLine.id).where(
        FlightLine.line_id == row["line_id"],
        FlightLine.sensor == row["sensor"],
        FlightLine.time_start.is_not_distinct_from(row["time_start"]),
    )
    pk = session.scalar(query)
    if pk is not None:
        return pk, False
    try:
        # A savepoint, so that a concurrent ingest of the same line (PostgreSQL) costs a retry
        # of this one statement, not the whole file.
        with session.begin_nested():
            line = FlightLine(**row)
            session.add(line)
        return line.id, True
    except IntegrityError:
        pk = session.scalar(query)
        if pk is None:
            raise
        return pk, False


def _existing(session: Session, digest: str) -> Ingest | None:
    return session.scalar(select(Ingest).where(Ingest.sha256 == digest))


def ingest_detections(
    factory: SessionFactory,
    path: Path,
    *,
    batch_size: int = 2000,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> IngestResult:
    """Store a detection file's lines and detections, all in one transaction.

    Parameters
    ----------
    factory : SessionFactory
        The store (:func:`vigia.store.open_store`).
    path : Path
        A detection file (``detections.geojson`` from ``vigia detect``).
    batch_size : int
        Detections written per statement.
    progress : callable, optional
        ``progress(written, total)``, called inside the transaction after each batch.
    now : datetime, optional
        The ingest time (UTC-aware); the clock when not given.

    Returns
    -------
    IngestResult
        What was stored, or that the file had been ingested before.

    Raises
    ------
    FileFormatError
        If the file is not a valid detection file: not JSON, a feature that does not validate,
        a coordinate out of range, a detection whose line the file does not list, a time
        without a zone. The message names the file and the feature; nothing is written.
    StoreError
        If the database refuses the write (nothing is written).
    """
    path = Path(path)
    digest = file_sha256(path)
    detections, lines = read_detections(path)
    line_rows = _line_rows(path, lines)
    det_rows = _detection_rows(path, detections, line_rows)
    when = (now or datetime.now(UTC)).astimezone(UTC)

    with write_session(factory) as session:
        earlier = _existing(session, digest)
        if earlier is None:
            try:
                with session.begin_nested():
                    ingest = Ingest(
                        sha256=digest,
                        file_name=str(path.resolve()),
                        ingested_at=when,
                        n_lines=len(line_rows),
                        n_detections=len(det_rows),
                    )
                    session.add(ingest)
            except IntegrityError:  # the same file, ingested concurrently (PostgreSQL)
                earlier = _existing(session, digest)
                if earlier is None:
                    raise
        if earlier is not None:
            return IngestResult(
                earlier.id, digest, path, earlier.n_lines, 0, 0, True, earlier.ingested_at
            )
        line_pks: dict[tuple[str, str], int] = {}
        n_new = 0
        for key, row in line_rows.items():
            line_pks[key], new = _line_pk(session, row)
            n_new += new
        written = 0
        for batch in _batches(det_rows, max(1, batch_size)):
            values = []
            for row in batch:
                values.append(
                    {k: v for k, v in row.items() if k != "line_key"}
                    | {"ingest_id": ingest.id, "line_id": line_pks[row["line_key"]]}
                )
            session.execute(insert(_DETECTIONS), values)
            written += len(batch)
            if progress is not None:
                progress(written, len(det_rows))
        result = IngestResult(
            ingest.id, digest, path, len(line_rows), n_new, len(det_rows), False, when
        )
    return result


def ingest_files(factory: SessionFactory) -> dict[int, str]:
    """Map each ingest's key to the path of the detection file it read (as given then)."""
    with read_session(factory) as session:
        return {i.id: i.file_name for i in session.scalars(select(Ingest).order_by(Ingest.id))}
