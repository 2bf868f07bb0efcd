"""Who may act: organisations, users with roles, API tokens, and the principal behind a request.

Organisations are tenants (DESIGN.md, "Security model"): one originating ``agency`` and any
number of ``partner`` authorities. A user belongs to one organisation and holds one role; the
agency's roles are ``analyst``, ``release_officer`` and ``admin``, a partner's are
``partner_viewer`` and ``partner_officer``.

API tokens are ``vga_`` followed by :func:`secrets.token_urlsafe` of 32 bytes (256 bits of
entropy). Only their SHA-256 is stored: a token that cannot be guessed needs no slow,
salted password hash (bcrypt, scrypt and Argon2 slow down guessing of *low*-entropy secrets;
2²⁵⁶ candidates are out of reach at any speed), and a plain hash lets :func:`authenticate`
find the token by an indexed equality lookup instead of comparing secrets in Python. The
plain token is returned once, by :func:`issue_token`, and never stored.

Every function takes an open session and leaves the transaction to the caller
(:func:`vigia.store.db.write_session`), so that a change and its audit entry commit together.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from vigia.errors import AuthError, InputError, NotFoundError
from vigia.store.changes import CHANGES
from vigia.store.models import (
    AGENCY_ROLES,
    ORG_KINDS,
    PARTNER_ROLES,
    USER_ROLES,
    ApiToken,
    Organisation,
    User,
)
from vigia.store.records import check_utc

__all__ = [
    "AUTH_REASONS",
    "DEFAULT_TOKEN_LIFETIME",
    "TOKEN_PREFIX",
    "Principal",
    "TokenGrant",
    "add_org",
    "add_user",
    "authenticate",
    "authenticate_grant",
    "get_org",
    "hash_token",
    "issue_token",
    "list_orgs",
    "list_tokens",
    "list_users",
    "parse_duration",
    "principal_of",
    "revoke_tokens",
    "set_user_active",
]

AUTH_REASONS: Final[tuple[str, ...]] = (
    "missing",
    "malformed",
    "unknown",
    "expired",
    "revoked",
    "disabled",
)
"""Why :func:`authenticate` refuses credentials (:attr:`vigia.errors.AuthError.reason`)."""
TOKEN_PREFIX: Final = "vga_"
"""Every Vigía API token starts with this, so that secret scanners and people recognise one."""
DEFAULT_TOKEN_LIFETIME: Final = timedelta(days=30)
"""How long ``vigia token issue`` makes a token valid when not told."""

_TOKEN_RE = re.compile(r"^vga_[A-Za-z0-9_-]{43}$")  # token_urlsafe(32) is 43 characters
_NAME_RE = re.compile(r"^[\w][\w .@+-]{0,127}$")
_COUNTRY_RE = re.compile(r"^[A-Z]{3}$")
_LAST_USED_EVERY = timedelta(seconds=60)  # write last_used_at at most once a minute per token


@dataclass(frozen=True)
class Principal:
    """The user behind a request or a command, with their organisation and role."""

    user_id: int
    user: str
    org_id: int
    org: str
    org_kind: str
    role: str

    @property
    def is_agency(self) -> bool:
        """Whether the principal belongs to the originating agency (in any of its roles)."""
        return self.org_kind == "agency"

    @classmethod
    def local_operator(cls, name: str = "-") -> Principal:
        """Return the principal of whoever reads the store directly: the agency's, sees all.

        Not a stored user (ids 0) and never one a token stands for: the console and the
        store's own agency-wide readings (calibration on outcomes, a plan's approvals) act
        as it; the service's principals come only from tokens (:func:`authenticate`).

        Parameters
        ----------
        name : str
            Who it is, as the audit log should name them (the operating-system user).

        Returns
        -------
        Principal
            An ``admin`` of the agency.

        Examples
        --------
        >>> Principal.local_operator("ops").is_agency
        True
        """
        return cls(0, name, 0, "-", "agency", "admin")


@dataclass(frozen=True)
class TokenGrant:
    """What an accepted token grants, with what decides whether it still does.

    Attributes
    ----------
    principal : Principal
        Who the token stands for.
    token_hash : str
        The token's SHA-256 (:func:`hash_token`).
    expires_at : datetime or None
        When the token expires (UTC), ``None`` for never.
    last_used_at : datetime or None
        The token's last use as stored (UTC) when the request was authenticated.
    changes : int or None
        The store's change counter (:mod:`vigia.store.changes`) as the token was checked, in
        the same snapshot; ``None`` when not known. Nothing that decides authentication
        changes without moving it, so the grant is what :func:`authenticate_grant` would
        give for as long as the counter reads this.
    """

    principal: Principal
    token_hash: str
    expires_at: datetime | None
    last_used_at: datetime | None
    changes: int | None = None

    def holds(self, now: datetime) -> bool:
        """Whether the token is still accepted at ``now``, with no last use to record.

        That is, as long as nothing in the store changed: :func:`authenticate` would accept
        it and change nothing.

        Parameters
        ----------
        now : datetime
            The time of the request, UTC-aware.

        Returns
        -------
        bool
            Not expired, and last used less than a minute before ``now``.
        """
        if self.expires_at is not None and self.expires_at <= now:
            return False
        return self.last_used_at is not None and now - self.last_used_at < _LAST_USED_EVERY


def _when(now: datetime) -> datetime:
    return check_utc(now, "now").astimezone(UTC)


def _check_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InputError(
            f"{what} name {name!r}: use 1-128 letters, digits, spaces or . _ @ + - "
            "(starting with a letter or digit)"
        )
    return name


def get_org(session: Session, name: str) -> Organisation:
    """Return the organisation of that name.

    Raises
    ------
    NotFoundError
        If there is none.
    """
    org = session.scalar(select(Organisation).where(Organisation.name == name))
    if org is None:
        raise NotFoundError(f"organisation {name!r} does not exist")
    return org


def add_org(
    session: Session, name: str, kind: str, *, country: str | None = None, now: datetime
) -> int:
    """Add an organisation.

    Parameters
    ----------
    session : Session
        An open write session.
    name : str
        Unique name (``SEMAR``, ``FGR-Sinaloa``).
    kind : {"agency", "partner"}
        The originating agency (there is one) or a partner authority.
    country : str, optional
        ISO 3166-1 alpha-3 code (``MEX``), upper case.
    now : datetime
        Creation time, UTC-aware.

    Returns
    -------
    int
        The organisation's id.

    Raises
    ------
    InputError
        A bad name, kind or country, a name already taken, or a second agency.
    """
    when = _when(now)
    _check_name(name, "organisation")
    if kind not in ORG_KINDS:
        raise InputError(
            f"organisation {name!r}: kind {kind!r} is not one of {', '.join(ORG_KINDS)}"
        )
    if country is not None and not _COUNTRY_RE.match(country):
        raise InputError(
            f"organisation {name!r}: country {country!r} is not an ISO 3166-1 alpha-3 code "
            "(three upper-case letters, e.g. MEX)"
        )
    if session.scalar(select(Organisation.id).where(Organisation.name == name)) is not None:
        raise InputError(f"organisation {name!r} already exists")
    if kind == "agency":
        agency = session.scalar(select(Organisation.name).where(Organisation.kind == "agency"))
        if agency is not None:
            raise InputError(
                f"organisation {name!r}: there is already an agency ({agency}); "
                "Vigía has one originating agency and any number of partners"
            )
    org = Organisation(name=name, kind=kind, country=country, created_at=when)
    session.add(org)
    session.flush()
    return org.id


def list_orgs(session: Session) -> list[dict[str, Any]]:
    """List organisations by name: ``name``, ``kind``, ``country``."""
    return [
        {"name": o.name, "kind": o.kind, "country": o.country}
        for o in session.scalars(select(Organisation).order_by(Organisation.name))
    ]


def add_user(session: Session, name: str, org: str, role: str, *, now: datetime) -> int:
    """Add a user to an organisation in a role.

    Parameters
    ----------
    session : Session
        An open write session.
    name : str
        Unique user name.
    org : str
        The organisation's name.
    role : str
        ``analyst``, ``release_officer`` or ``admin`` in the agency; ``partner_viewer`` or
        ``partner_officer`` in a partner.
    now : datetime
        Creation time, UTC-aware.

    Returns
    -------
    int
        The user's id.

    Raises
    ------
    NotFoundError
        If the organisation does not exist.
    InputError
        A bad or taken name, an unknown role, or a role the organisation's kind does not have.
    """
    when = _when(now)
    _check_name(name, "user")
    if role not in USER_ROLES:
        raise InputError(f"user {name!r}: role {role!r} is not one of {', '.join(USER_ROLES)}")
    o = get_org(session, org)
    allowed = AGENCY_ROLES if o.kind == "agency" else PARTNER_ROLES
    if role not in allowed:
        raise InputError(
            f"user {name!r}: role {role!r} does not exist in a {o.kind} organisation ({o.name}); "
            f"roles there: {', '.join(allowed)}"
        )
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise InputError(f"user {name!r} already exists")
    user = User(name=name, org_id=o.id, role=role, active=True, created_at=when)
    session.add(user)
    session.flush()
    return user.id


def list_users(session: Session) -> list[dict[str, Any]]:
    """List users by name: ``name``, ``org``, ``role``, ``active``."""
    q = select(User, Organisation.name).join(Organisation).order_by(User.name)
    return [
        {"name": u.name, "org": org, "role": u.role, "active": u.active}
        for u, org in session.execute(q)
    ]


def _user(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFoundError(f"user {name!r} does not exist")
    return user


def set_user_active(session: Session, user: str, active: bool) -> None:
    """Enable or disable a user (a disabled user's tokens are refused with ``disabled``).

    Raises
    ------
    NotFoundError
        If the user does not exist.
    """
    _user(session, user).active = active


def hash_token(token: str) -> str:
    """Return the SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(session: Session, user: str, *, expires: timedelta | None, now: datetime) -> str:
    """Issue an API token for a user; only its hash is stored.

    Parameters
    ----------
    session : Session
        An open write session.
    user : str
        The user's name; the user must be active.
    expires : timedelta or None
        Lifetime from ``now`` (positive); ``None`` for a token that never expires.
    now : datetime
        Issue time, UTC-aware.

    Returns
    -------
    str
        The token (``vga_`` and 43 URL-safe characters). It is shown this once.

    Raises
    ------
    NotFoundError
        If the user does not exist.
    InputError
        If the user is disabled or the lifetime is not positive.
    """
    when = _when(now)
    u = _user(session, user)
    if not u.active:
        raise InputError(f"user {user!r} is disabled: no token can be issued")
    if expires is not None and expires <= timedelta(0):
        raise InputError(f"token lifetime {expires} is not positive")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            user_id=u.id,
            token_hash=hash_token(token),
            prefix=token[:12],
            created_at=when,
            expires_at=None if expires is None else when + expires,
            revoked_at=None,
            last_used_at=None,
        )
    )
    session.flush()
    return token


def list_tokens(session: Session, user: str | None = None) -> list[dict[str, Any]]:
    """List tokens (never the token itself): ``id``, ``user``, ``prefix`` and the times."""
    q = select(ApiToken, User.name).join(User).order_by(ApiToken.id)
    if user is not None:
        q = q.where(User.name == user)
    return [
        {
            "id": t.id,
            "user": name,
            "prefix": t.prefix,
            "created_at": t.created_at,
            "expires_at": t.expires_at,
            "revoked_at": t.revoked_at,
            "last_used_at": t.last_used_at,
        }
        for t, name in session.execute(q)
    ]


def revoke_tokens(
    session: Session, *, token: str | None = None, user: str | None = None, now: datetime
) -> int:
    """Revoke one token, or every live token of a user.

    Parameters
    ----------
    session : Session
        An open write session.
    token : str, optional
        The token to revoke.
    user : str, optional
        Revoke all the user's tokens not yet revoked (with ``token``: that token, which must
        be the user's).
    now : datetime
        Revocation time, UTC-aware.

    Returns
    -------
    int
        How many tokens were revoked now (a token already revoked is not counted).

    Raises
    ------
    InputError
        If neither a token nor a user is given.
    NotFoundError
        If the token or the user is not known (or the token is not that user's).
    """
    when = _when(now)
    if token is None and user is None:
        raise InputError("revoke: give a token or a user")
    q = select(ApiToken)
    if user is not None:
        q = q.where(ApiToken.user_id == _user(session, user).id)
    if token is not None:
        q = q.where(ApiToken.token_hash == hash_token(token))
    rows = list(session.scalars(q.with_for_update()))
    if token is not None and not rows:
        raise NotFoundError(
            f"token {token[:12]}… is not known" + (f" for user {user!r}" if user else "")
        )
    n = 0
    for t in rows:
        if t.revoked_at is None:
            t.revoked_at = when
            n += 1
    session.flush()
    return n


def _principal(user: User, org: Organisation) -> Principal:
    return Principal(user.id, user.name, org.id, org.name, org.kind, user.role)


def authenticate(session: Session, token: str | None, *, now: datetime) -> Principal:
    """Return the principal a token stands for, or refuse it.

    As :func:`authenticate_grant`, which gives the token's times as well.

    The token is found by its SHA-256 (an indexed lookup); its ``last_used_at`` is set to
    ``now`` in the session when it was last set more than a minute ago (commit to keep it).

    Parameters
    ----------
    session : Session
        An open session.
    token : str or None
        What the client sent (``None`` or empty when it sent nothing).
    now : datetime
        The time of the request, UTC-aware.

    Returns
    -------
    Principal
        The user, organisation and role.

    Raises
    ------
    AuthError
        ``reason`` says why: ``missing`` (no token), ``malformed`` (not a Vigía token),
        ``unknown`` (no such token), ``expired``, ``revoked``, or ``disabled`` (the user).
    """
    return authenticate_grant(session, token, now=now).principal


def authenticate_grant(session: Session, token: str | None, *, now: datetime) -> TokenGrant:
    """Return what a token grants, or refuse it (:func:`authenticate`).

    Parameters
    ----------
    session : Session
        An open session.
    token : str or None
        What the client sent (``None`` or empty when it sent nothing).
    now : datetime
        The time of the request, UTC-aware.

    Returns
    -------
    TokenGrant
        The principal, the token's hash, expiry and last use (``now`` when it is recorded
        in this session), and the store's change counter read with the token.

    Raises
    ------
    AuthError
        As :func:`authenticate`.
    """
    when = _when(now)
    if not token:
        raise AuthError("no API token given", "missing")
    if not _TOKEN_RE.match(token):
        raise AuthError("the API token is malformed (expected vga_ and 43 characters)", "malformed")
    lookup = {"token_hash": hash_token(token)}
    row = session.connection().execute(_TOKEN_LOOKUP, lookup).one_or_none()
    if row is None:
        raise AuthError(f"API token {token[:12]}… is not known", "unknown")
    token_id, token_hash, prefix, expires_at, revoked_at, last_used_at = row[:6]
    if revoked_at is not None:
        raise AuthError(
            f"API token {prefix}… was revoked at {revoked_at:%Y-%m-%dT%H:%M:%SZ}", "revoked"
        )
    if expires_at is not None and expires_at <= when:
        raise AuthError(
            f"API token {prefix}… expired at {expires_at:%Y-%m-%dT%H:%M:%SZ}", "expired"
        )
    user_id, user_name, role, active, org_id, org_name, org_kind, changes = row[6:]
    if not active:
        raise AuthError(f"user {user_name!r} is disabled", "disabled")
    if last_used_at is None or when - last_used_at >= _LAST_USED_EVERY:
        # Through the session's identity map when the token is loaded there (a caller that
        # also holds the ORM object sees the new time), else a plain UPDATE.
        t = session.get(ApiToken, token_id)
        assert t is not None  # just read, in this transaction
        t.last_used_at = last_used_at = when
    principal = Principal(user_id, user_name, org_id, org_name, org_kind, role)
    return TokenGrant(
        principal, token_hash, expires_at, last_used_at, None if changes is None else int(changes)
    )


# Plain columns, not ORM objects: this runs on every request the service is asked. The
# change counter comes in the same statement (one snapshot), for the grant's `changes`.
_TOKEN_LOOKUP: Final = (
    select(
        ApiToken.id,
        ApiToken.token_hash,
        ApiToken.prefix,
        ApiToken.expires_at,
        ApiToken.revoked_at,
        ApiToken.last_used_at,
        User.id,
        User.name,
        User.role,
        User.active,
        Organisation.id,
        Organisation.name,
        Organisation.kind,
        CHANGES,
    )
    .join(User, ApiToken.user_id == User.id)
    .join(Organisation, User.org_id == Organisation.id)
    .where(ApiToken.token_hash == bindparam("token_hash"))
)


def principal_of(session: Session, user: str) -> Principal:
    """Return the principal of a stored user (the CLI's ``--as USER``).

    Raises
    ------
    NotFoundError
        If the user does not exist.
    AuthError
        If the user is disabled (``reason`` ``disabled``).
    """
    u = _user(session, user)
    if not u.active:
        raise AuthError(f"user {user!r} is disabled", "disabled")
    org = session.get(Organisation, u.org_id)
    assert org is not None  # a foreign key
    return _principal(u, org)


def parse_duration(text: str) -> timedelta:
    """Parse a lifetime such as ``30d``, ``12h`` or ``90m``.

    Parameters
    ----------
    text : str
        A positive whole number followed by ``d`` (days), ``h`` (hours) or ``m`` (minutes).

    Returns
    -------
    timedelta
        The duration.

    Raises
    ------
    InputError
        If the text is not such a duration.

    Examples
    --------
    >>> parse_duration("30d")
    datetime.timedelta(days=30)
    """
    m = re.fullmatch(r"\s*(\d{1,6})\s*([dhm])\s*", text)
    if m is None or int(m.group(1)) == 0:
        raise InputError(
            f"duration {text!r}: expected a positive number and d, h or m (30d, 12h, 90m)"
        )
    unit = {"d": "days", "h": "hours", "m": "minutes"}[m.group(2)]
    return timedelta(**{unit: int(m.group(1))})
