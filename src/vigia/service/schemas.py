"""What goes in and comes out of the service: Pydantic models, one per document.

Models that come in (``*Create``, ``*Amend``) forbid unknown fields, so that a typo is a 422
and not a silently ignored value; models that go out (``*Public``) are what the OpenAPI
document declares and what schemathesis checks every response against.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = [
    "TLP",
    "Collection",
    "Collections",
    "Conformance",
    "DelayPublic",
    "Feature",
    "FeatureCollection",
    "Health",
    "LandingPage",
    "Link",
    "MetricsPublic",
    "OutcomeCreate",
    "OutcomePublic",
    "Problem",
    "QuantityIn",
    "ReleaseAmend",
    "ReleaseCreate",
    "ReleasePublic",
    "ReleaseWithdraw",
    "SeizedPublic",
    "SortieCreate",
    "SortieDecision",
    "SortiePublic",
    "SortieRefusal",
]

TLP = Literal["TLP:RED", "TLP:AMBER+STRICT", "TLP:AMBER", "TLP:GREEN", "TLP:CLEAR"]
"""TLP 2.0 markings (FIRST, 2022)."""

_Id = Annotated[str, Field(min_length=1, max_length=64)]
_Name = Annotated[str, Field(min_length=1, max_length=128)]
_Caveat = Annotated[str, Field(min_length=1, max_length=1000)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(BaseModel):
    """An RFC 9457 problem document: what every error answers."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


class Health(BaseModel):
    """Liveness and database reachability."""

    status: Literal["ok"]
    version: str


class Link(BaseModel):
    """A web link (OGC API – Common, RFC 8288)."""

    href: str
    rel: str
    type: str | None = None
    title: str | None = None


class LandingPage(BaseModel):
    """The OGC API landing page."""

    title: str
    description: str
    links: list[Link]


class Conformance(BaseModel):
    """The conformance classes the service implements."""

    conformsTo: list[str]


class Collection(BaseModel):
    """One feature collection."""

    id: str
    title: str
    description: str
    itemType: Literal["feature"] = "feature"
    crs: list[str]
    links: list[Link]


class Collections(BaseModel):
    """The feature collections a principal may read."""

    links: list[Link]
    collections: list[Collection]


class Feature(BaseModel):
    """A GeoJSON feature (RFC 7946)."""

    model_config = ConfigDict(extra="allow")

    type: Literal["Feature"]
    id: str | int
    geometry: dict[str, Any] | None
    properties: dict[str, Any] | None
    links: list[Link] | None = None


class FeatureCollection(BaseModel):
    """One page of a feature collection (OGC API – Features, Part 1)."""

    type: Literal["FeatureCollection"]
    features: list[Feature]
    numberMatched: int
    numberReturned: int
    timeStamp: datetime
    links: list[Link]


class ReleaseCreate(_In):
    """A release: confirmed sites to named partner organisations."""

    site_ids: list[_Id] = Field(min_length=1, max_length=1000)
    to_orgs: list[_Name] = Field(min_length=1, max_length=50)
    tlp: TLP
    caveats: list[_Caveat] = Field(default_factory=list, max_length=20)


class ReleaseAmend(_In):
    """Changes to a release: a new marking, new caveats (replacing), more sites or recipients."""

    tlp: TLP | None = None
    caveats: list[_Caveat] | None = Field(default=None, max_length=20)
    add_sites: list[_Id] = Field(default_factory=list, max_length=1000)
    add_orgs: list[_Name] = Field(default_factory=list, max_length=50)


class ReleaseWithdraw(_In):
    """Why a release is withdrawn."""

    reason: str = Field(min_length=1, max_length=4000)


class ReleasePublic(BaseModel):
    """A release as its principal may see it.

    A partner sees only its own organisation among the recipients and acknowledgements, and
    no officer; ``acknowledged`` is whether the principal's organisation acknowledged it (for
    the agency: whether every recipient did).
    """

    model_config = ConfigDict(from_attributes=True)

    id: str
    tlp: str
    caveats: list[str]
    site_ids: list[str]
    recipients: list[str]
    officer: str | None = None
    created_at: datetime
    amended_at: datetime | None = None
    withdrawn_at: datetime | None = None
    withdraw_reason: str | None = None
    withdrawn: bool
    acknowledged: bool
    acknowledgements: dict[str, datetime | None]
    version: int


class QuantityIn(_In):
    """One seized item as the partner officer reports it (units normalised by the store)."""

    item: str = Field(min_length=1, max_length=64)
    amount: float
    unit: str = Field(min_length=1, max_length=32)


class OutcomeCreate(_In):
    """A partner officer's report of what was found at a released site."""

    outcome: Literal["dismantled", "nothing_found", "inactive", "seizure"]
    quantities: list[QuantityIn] = Field(default_factory=list, max_length=50)
    text: str = Field(default="", max_length=4000)
    observed_at: AwareDatetime


class OutcomePublic(BaseModel):
    """An outcome as stored."""

    id: int
    site_id: str
    outcome: str
    observed_at: datetime


class SortieCreate(_In):
    """A planned sortie submitted to the partner whose territory it flies over."""

    name: str = Field(min_length=1, max_length=128)
    partner_org: str = Field(min_length=1, max_length=128)
    plan_path: str = Field(
        min_length=1,
        max_length=1024,
        description="The plan file or directory, relative to the service's plans directory.",
    )
    area: dict[str, Any]


class SortieDecision(_In):
    """A partner officer's approval (the reason is optional)."""

    reason: str = Field(default="", max_length=4000)


class SortieRefusal(_In):
    """A partner officer's refusal (the reason is required)."""

    reason: str = Field(min_length=1, max_length=4000)


class SortiePublic(BaseModel):
    """A sortie and where it stands in approval (``flyable`` once the partner approved it)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    org: str
    plan_sha256: str
    area: dict[str, Any]
    submitted_by: str
    submitted_at: datetime
    status: Literal["submitted", "approved", "refused"]
    flyable: bool
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None


class DelayPublic(BaseModel):
    """A delay over the sites that reached a step, hours."""

    n: int
    median_h: float | None
    p90_h: float | None


class SeizedPublic(BaseModel):
    """Total seized of one item, in its canonical unit."""

    item: str
    unit: str
    total: float


class MetricsPublic(BaseModel):
    """The agency's metrics (:class:`vigia.share.metrics.Metrics`)."""

    released: int
    acknowledged: int
    actioned: int
    with_findings: int
    outcomes: dict[str, int]
    detection_to_release: DelayPublic
    release_to_acknowledgement: DelayPublic
    release_to_action: DelayPublic
    hit_rate: float | None
    response_rate: float | None
    seized: list[SeizedPublic]
    by_partner: dict[str, MetricsPublic]
