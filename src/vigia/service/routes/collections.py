"""OGC API – Features: the landing page, conformance, collections and their items.

``sites`` is the one collection every principal reads; what is in it for a partner is what was
released to its organisation (:func:`vigia.store.releases.list_visible_features` decides). The
agency also reads ``flight_lines`` and ``detections``; for a partner those collections do not
exist (404, and absent from ``/collections``).

Items are paged with ``limit``/``offset`` and ``next``/``prev`` links (OGC API – Features,
Part 1, 7.15); ``bbox`` is ``min_lon,min_lat,max_lon,max_lat`` in degrees (WGS84) and
``datetime`` an RFC 3339 instant or an interval ``start/end`` with ``..`` for an open end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final
from urllib.parse import parse_qsl, urlencode
from weakref import WeakKeyDictionary

import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from vigia.errors import InputError, NotFoundError
from vigia.service.auth import CurrentPrincipal, CurrentReader
from vigia.service.deps import Config, ServiceConfig
from vigia.service.routes import declare
from vigia.service.schemas import (
    Collection,
    Collections,
    Conformance,
    Feature,
    FeatureCollection,
    LandingPage,
    Link,
)
from vigia.store.access import Principal
from vigia.store.db import OnConnection, Steps, read_session, run_steps
from vigia.store.releases import (
    feature_json_steps,
    feature_text_steps,
    read_visible_feature,
)
from vigia.store.survey import get_survey_feature, list_survey_features

__all__ = [
    "CONFORMANCE",
    "TIMESTAMP_FORMAT",
    "GeoJSONResponse",
    "Read",
    "parse_bbox",
    "parse_datetime",
    "router",
    "site_feature",
    "sites_page",
    "visible_collections",
]

router = APIRouter(tags=["features"])

GEOJSON = "application/geo+json"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
_CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
"""How a page's ``timeStamp`` (the time of the answer, UTC) is written."""

_COLLECTIONS: dict[str, tuple[str, str, bool]] = {
    # id: (title, description, agency only)
    "sites": (
        "Sites",
        "Places where detections agree; for a partner, the sites released to it.",
        False,
    ),
    "flight_lines": ("Flight lines", "Lines the sensors imaged and the detectors searched.", True),
    "detections": ("Detections", "Raw detections of every flight line.", True),
}


class GeoJSONResponse(JSONResponse):
    """A JSON response served as ``application/geo+json`` (RFC 7946).

    Rendered with orjson (the same compact JSON, several times faster); anything orjson
    refuses is rendered as :class:`JSONResponse` renders it.
    """

    media_type = GEOJSON

    def render(self, content: Any) -> bytes:
        """Return the JSON body."""
        try:
            return orjson.dumps(content)
        except TypeError:  # e.g. an integer beyond 64 bits: the standard encoder copes
            return super().render(content)


def visible_collections(p: Principal) -> list[str]:
    """Return the ids of the collections a principal may read.

    Parameters
    ----------
    p : Principal
        Who asks.

    Returns
    -------
    list of str
        ``sites`` for everyone; ``flight_lines`` and ``detections`` for the agency.
    """
    return [cid for cid, (_, _, agency) in _COLLECTIONS.items() if p.is_agency or not agency]


def _collection(p: Principal, cid: str, request: Request) -> Collection:
    if cid not in visible_collections(p):
        raise NotFoundError(f"collection {cid!r} does not exist for {p.org}")
    title, description, _ = _COLLECTIONS[cid]
    base = str(request.url_for("collection", cid=cid))
    return Collection(
        id=cid,
        title=title,
        description=description,
        crs=[_CRS84],
        links=[
            Link(href=base, rel="self", type="application/json"),
            Link(href=f"{base}/items", rel="items", type=GEOJSON, title=f"{title} as GeoJSON"),
        ],
    )


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """Parse an OGC ``bbox`` parameter.

    Parameters
    ----------
    text : str or None
        ``min_lon,min_lat,max_lon,max_lat``, degrees.

    Returns
    -------
    tuple of float or None
        The box, or ``None`` when not given.

    Raises
    ------
    InputError
        If it is not four finite numbers within lon −180…180, lat −90…90, min ≤ max.

    Examples
    --------
    >>> parse_bbox("-108,24.5,-106.5,26")
    (-108.0, 24.5, -106.5, 26.0)
    """
    if text is None:
        return None
    parts = text.split(",")
    try:
        values = [float(v) for v in parts]
    except ValueError:
        raise InputError(f"bbox {text!r}: expected min_lon,min_lat,max_lon,max_lat") from None
    if len(values) != 4 or not all(abs(v) < float("inf") for v in values):
        raise InputError(f"bbox {text!r}: expected four finite numbers")
    min_lon, min_lat, max_lon, max_lat = values
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise InputError(
            f"bbox {text!r}: needs min_lon ≤ max_lon within −180…180 and "
            "min_lat ≤ max_lat within −90…90"
        )
    return min_lon, min_lat, max_lon, max_lat


def _instant(text: str, what: str) -> datetime | None:
    if text in ("..", ""):
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"datetime {what} {text!r} is not an RFC 3339 time") from None
    if t.utcoffset() is None:
        raise InputError(f"datetime {what} {text!r} has no time zone (add Z)")
    return t


def parse_datetime(text: str | None) -> tuple[datetime | None, datetime | None]:
    """Parse an OGC ``datetime`` parameter: an instant or an interval with open ends.

    Parameters
    ----------
    text : str or None
        ``2025-03-04T18:00:00Z``, ``2025-03-01T00:00:00Z/2025-03-31T00:00:00Z``,
        ``../2025-03-31T00:00:00Z`` or ``2025-03-01T00:00:00Z/..``.

    Returns
    -------
    tuple of datetime or None
        ``(start, end)``; an instant gives the same time twice, an open end ``None``.

    Raises
    ------
    InputError
        If a time cannot be parsed, has no time zone, or the interval ends before it starts.
    """
    if text is None:
        return None, None
    if "/" not in text:
        t = _instant(text, "instant")
        if t is None:
            raise InputError("datetime '..' is not an instant")
        return t, t
    first, _, second = text.partition("/")
    start, end = _instant(first, "start"), _instant(second, "end")
    if start is not None and end is not None and end < start:
        raise InputError(f"datetime {text!r}: the interval ends before it starts")
    return start, end


_URLS_KEPT: Final = 256
_URLS: WeakKeyDictionary[Any, dict[tuple[Any, ...], _Urls]] = WeakKeyDictionary()
"""Per application, per what a request's URL is made of but its query (:func:`_urls`)."""


@dataclass(frozen=True)
class _Urls:
    """A request's URL without its query, and the collections' URLs, as Starlette writes them."""

    bare: str
    collections: dict[str, str]


def _urls(request: Request) -> _Urls:
    """Return the URLs a page's links are made of, made once per origin and path.

    Starlette makes ``request.url`` (and its base URL) anew for each request, from the scope's
    scheme, first ``Host`` header, server, root path and path: with the same of these, the same
    URL. Making them took a third of a page's time on the event loop; they are kept here per
    application, at most :data:`_URLS_KEPT` (then forgotten all at once: a client sending many
    ``Host`` headers costs time, not memory).
    """
    scope = request.scope
    host = next((value for key, value in scope["headers"] if key == b"host"), None)
    server = scope.get("server")
    key = (
        scope.get("scheme"),
        host,
        None if server is None else tuple(server),
        scope.get("root_path"),
        scope.get("app_root_path"),
        scope["path"],
    )
    kept = _URLS.setdefault(request.app, {})
    urls = kept.get(key)
    if urls is None:
        if len(kept) >= _URLS_KEPT:
            kept.clear()
        urls = kept[key] = _Urls(str(request.url.replace(query="")), {})
    return urls


def _collection_url(request: Request, cid: str) -> str:
    """Return ``str(request.url_for("collection", cid=cid))``, made once per origin.

    Looking the route's path up walks the routes (a third of a page's links' time), so the
    URL is kept with the request's own (:func:`_urls`). The path is the application's
    router's (``scope["router"]``, which ``url_for`` asks; before routing, the application's).
    """
    urls = _urls(request).collections
    url = urls.get(cid)
    if url is None:
        router: Any = request.scope.get("router") or request.app
        path = router.url_path_for("collection", cid=cid)
        url = urls[cid] = str(path.make_absolute_url(base_url=request.base_url))
    return url


def _page(
    request: Request,
    config: ServiceConfig,
    cid: str,
    features: list[dict[str, Any]],
    matched: int,
    limit: int,
    offset: int,
) -> GeoJSONResponse:
    doc = _page_doc(request, config, cid, features, len(features), matched, limit, offset)
    return GeoJSONResponse(doc)


def _page_doc(
    request: Request,
    config: ServiceConfig,
    cid: str,
    features: list[Any],
    returned: int,
    matched: int,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    window = _Window(request)
    # Built as plain JSON in the shape of `Link` (its fields' order, no null title), not
    # validated again on the way out: this is the hot path.
    links = [
        {"href": window.href(offset, limit), "rel": "self", "type": GEOJSON},
        {"href": _collection_url(request, cid), "rel": "collection", "type": "application/json"},
    ]
    if offset + returned < matched:
        links.append({"href": window.href(offset + limit, limit), "rel": "next", "type": GEOJSON})
    if offset > 0:
        prev = window.href(max(0, offset - limit), limit)
        links.append({"href": prev, "rel": "prev", "type": GEOJSON})
    return {
        "type": "FeatureCollection",
        "features": features,
        "numberMatched": matched,
        "numberReturned": returned,
        "timeStamp": _stamp(config.clock()),
        "links": links,
    }


_STAMPED: list[tuple[datetime, str]] = [(datetime.min, datetime.min.strftime(TIMESTAMP_FORMAT))]
"""The last second :func:`_stamp` wrote, and how."""


def _stamp(t: datetime) -> str:
    """Return ``t.strftime(TIMESTAMP_FORMAT)``, written once a second.

    ``strftime`` cost more than the rest of a page's links together; pages are stamped to the
    second, so all of a second's pages share one text. (A list of one item: its item is
    replaced whole, so a thread reads either the old second or the new one.)
    """
    second = t.replace(microsecond=0, tzinfo=None)  # the format writes the fields alone
    kept = _STAMPED[0]
    if kept[0] != second:
        kept = _STAMPED[0] = (second, second.strftime(TIMESTAMP_FORMAT))
    return kept[1]


class _Window:
    """The request's URL with other ``offset`` and ``limit`` query parameters.

    As ``request.url.include_query_params(offset=, limit=)`` writes it (the other parameters
    first, in their order, then these two), the query parsed once for all of a page's links.
    """

    def __init__(self, request: Request) -> None:
        self.bare = _urls(request).bare
        query = request.scope.get("query_string", b"").decode()  # as Starlette's URL
        self.kept = [
            (k, v)
            for k, v in parse_qsl(query, keep_blank_values=True)
            if k not in ("offset", "limit")
        ]

    def href(self, offset: int, limit: int) -> str:
        query = urlencode([*self.kept, ("offset", str(offset)), ("limit", str(limit))])
        return f"{self.bare}?{query}"


_FEATURES_AT: Final = b'{"type":"FeatureCollection","features":['
_LINKS_AT: Final = b',"links":'


def _json_page(
    request: Request,
    config: ServiceConfig,
    cid: str,
    features: list[str],
    matched: int,
    limit: int,
    offset: int,
) -> Response:
    """Answer a page whose features are JSON already: the same bytes as :func:`_page`."""
    doc = _page_doc(request, config, cid, [], len(features), matched, limit, offset)
    empty = orjson.dumps(doc)
    assert empty.startswith(_FEATURES_AT)  # "type", then "features": dicts keep their order
    body = b"".join((_FEATURES_AT, ",".join(features).encode(), empty[len(_FEATURES_AT) :]))
    return Response(body, media_type=GEOJSON)


def _items(
    request: Request,
    config: ServiceConfig,
    cid: str,
    lister: Callable[..., tuple[list[dict[str, Any]], int]],
    bbox: str | None,
    dt: str | None,
    limit: int,
    offset: int,
) -> GeoJSONResponse:
    with read_session(config.factory) as session:
        return _items_in(session, request, config, cid, lister, bbox, dt, limit, offset)


def _items_in(
    session: Session,
    request: Request,
    config: ServiceConfig,
    cid: str,
    lister: Callable[..., tuple[list[dict[str, Any]], int]],
    bbox: str | None,
    dt: str | None,
    limit: int,
    offset: int,
) -> GeoJSONResponse:
    # One page of a collection's items: `lister(session, bbox=, start=, end=, limit=, offset=)`
    # gives the page's features and how many match in all.
    box = parse_bbox(bbox)
    start, end = parse_datetime(dt)
    features, matched = lister(session, bbox=box, start=start, end=end, limit=limit, offset=offset)
    return _page(request, config, cid, features, matched, limit, offset)


CollectionId = Annotated[str, Path(max_length=64, description="Collection id.")]
BBoxParam = Annotated[
    str | None,
    Query(max_length=200, description="min_lon,min_lat,max_lon,max_lat, degrees (WGS84)."),
]
DatetimeParam = Annotated[
    str | None,
    Query(
        alias="datetime",
        max_length=100,
        description="RFC 3339 instant, or interval start/end ('..' for an open end).",
    ),
]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip.")]
FeatureId = Annotated[str, Path(max_length=64, description="Feature id (SITE-000001).")]


@router.get("/", response_model=LandingPage, responses=declare(), summary="Landing page")
def landing(request: Request, p: CurrentPrincipal) -> LandingPage:
    """Return the OGC API landing page."""
    return LandingPage(
        title="Vigía",
        description="Sites found by aerial surveillance, as released to you.",
        links=[
            Link(href=str(request.url_for("landing")), rel="self", type="application/json"),
            Link(
                href=str(request.url_for("openapi")),
                rel="service-desc",
                type="application/vnd.oai.openapi+json;version=3.0",
            ),
            Link(
                href=str(request.url_for("conformance")),
                rel="conformance",
                type="application/json",
            ),
            Link(href=str(request.url_for("collections")), rel="data", type="application/json"),
        ],
    )


@router.get("/conformance", response_model=Conformance, responses=declare(), summary="Conformance")
def conformance(p: CurrentPrincipal) -> Conformance:
    """Return the conformance classes implemented."""
    return Conformance(conformsTo=CONFORMANCE)


@router.get("/collections", response_model=Collections, responses=declare(), summary="Collections")
def collections(request: Request, p: CurrentPrincipal) -> Collections:
    """List the collections the principal may read."""
    return Collections(
        links=[Link(href=str(request.url_for("collections")), rel="self", type="application/json")],
        collections=[_collection(p, cid, request) for cid in visible_collections(p)],
    )


@router.get(
    "/collections/{cid}",
    response_model=Collection,
    responses=declare(404),
    summary="One collection",
)
def collection(request: Request, cid: CollectionId, p: CurrentPrincipal) -> Collection:
    """Describe one collection (404 for a collection the principal may not read)."""
    return _collection(p, cid, request)


@dataclass(frozen=True)
class Read:
    """A read of the sites collection: its steps, given who asks (:data:`vigia.store.db.Steps`).

    Called with a connection and the principal, as :meth:`vigia.service.auth.Reader.read`
    calls it, it runs them there (:func:`vigia.store.db.run_steps`);
    :func:`vigia.service.auth.read_kept_on_loop` runs the same steps on the event loop.

    Attributes
    ----------
    steps : callable
        ``steps(principal)``: the read, which returns the response and the change count it
        was read at.
    """

    steps: Callable[[Principal], Steps[tuple[Response, int | None]]]

    def __call__(self, conn: Connection, p: Principal) -> tuple[Response, int | None]:
        """Run the read on ``conn`` for ``p``."""
        return run_steps(conn, self.steps(p))


def sites_page(
    request: Request,
    config: ServiceConfig,
    bbox: str | None,
    dt: str | None,
    limit: int,
    offset: int,
) -> Read:
    """Return the read of one page of the sites collection (``GET /collections/sites/items``).

    Parameters
    ----------
    request : Request
        The request (its URL makes the page's links).
    config : ServiceConfig
        The service's configuration (its clock stamps the page).
    bbox, dt : str or None
        The ``bbox`` and ``datetime`` parameters as sent.
    limit, offset : int
        The page's size and start, validated.

    Returns
    -------
    Read
        The read: the page's response and the change count it was read at.
    """
    engine = config.factory.kw["bind"]

    def page(p: Principal) -> Steps[tuple[Response, int | None]]:
        box = parse_bbox(bbox)
        start, end = parse_datetime(dt)
        got = yield from feature_json_steps(
            engine, p, bbox=box, start=start, end=end, limit=limit, offset=offset
        )
        response = _json_page(request, config, "sites", got.features, got.matched, limit, offset)
        return response, got.changes

    return Read(page)


def site_feature(request: Request, fid: str) -> Read:
    """Return the read of one site (``GET /collections/sites/items/{fid}``).

    Parameters
    ----------
    request : Request
        The request (its URL makes the feature's links).
    fid : str
        The site's id.

    Returns
    -------
    Read
        The read: the feature's response and the change count it was read at; it raises
        :class:`~vigia.errors.NotFoundError` for a site the principal may not see.
    """

    def links() -> list[dict[str, Any]]:
        # Built as plain JSON in the shape of `Feature` (not validated again on the way out).
        return [
            {"href": str(request.url), "rel": "self", "type": GEOJSON, "title": None},
            {
                "href": _collection_url(request, "sites"),
                "rel": "collection",
                "type": "application/json",
                "title": None,
            },
        ]

    def item(p: Principal) -> Steps[tuple[Response, int | None]]:
        if not p.is_agency:  # the stored feature's JSON, its links last: the same bytes
            text, changes = yield from feature_text_steps(p, fid)
            assert text.endswith("}")
            body = b"".join((text[:-1].encode(), _LINKS_AT, orjson.dumps(links()), b"}"))
            return Response(body, media_type=GEOJSON), changes
        feature, changes = yield OnConnection(lambda c: read_visible_feature(c, p, fid))
        feature["links"] = links()
        return GeoJSONResponse(feature), changes

    return Read(item)


@router.get(
    "/collections/sites/items",
    response_model=FeatureCollection,
    response_class=GeoJSONResponse,
    responses=declare(),
    summary="Sites",
)
async def site_items(
    request: Request,
    reader: CurrentReader,
    bbox: BBoxParam = None,
    dt: DatetimeParam = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """Return one page of the sites the principal may see, as GeoJSON."""
    return await reader.read(sites_page(request, reader.config, bbox, dt, limit, offset))


@router.get(
    "/collections/sites/items/{fid}",
    response_model=Feature,
    response_class=GeoJSONResponse,
    responses=declare(404),
    summary="One site",
)
async def site_item(request: Request, fid: FeatureId, reader: CurrentReader) -> Response:
    """Return one site the principal may see (404 otherwise)."""
    return await reader.read(site_feature(request, fid))


@router.get(
    "/collections/{cid}/items",
    response_model=FeatureCollection,
    response_class=GeoJSONResponse,
    responses=declare(404),
    summary="Flight lines or detections (agency)",
)
def survey_items(
    request: Request,
    cid: CollectionId,
    config: Config,
    p: CurrentPrincipal,
    bbox: BBoxParam = None,
    dt: DatetimeParam = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> GeoJSONResponse:
    """Return one page of flight lines or detections (the agency's; 404 for partners)."""

    def features(session: Session, **window: Any) -> tuple[list[dict[str, Any]], int]:
        return list_survey_features(session, p, cid, **window)

    return _items(request, config, cid, features, bbox, dt, limit, offset)


@router.get(
    "/collections/{cid}/items/{fid}",
    response_model=Feature,
    response_class=GeoJSONResponse,
    responses=declare(404),
    summary="One flight line or detection (agency)",
)
def survey_item(
    cid: CollectionId, fid: FeatureId, config: Config, p: CurrentPrincipal
) -> GeoJSONResponse:
    """Return one flight line or detection (the agency's; 404 for partners)."""
    with read_session(config.factory) as session:
        return GeoJSONResponse(get_survey_feature(session, p, cid, fid))
