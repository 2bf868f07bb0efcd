"""The audit log: append-only and hash-chained, so that an edit or a deletion shows.

Each entry stores the hash of the one before it (``prev_hash``; the first entry's is 64 zeros)
and its own ``hash``: the SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8) of its
id, time (ISO 8601, microseconds, ``Z``), actor, org, role, action, object, client, outcome,
detail and ``prev_hash``. :func:`verify_audit` recomputes the chain and names the first bad
entry:

- an edited field no longer matches the entry's hash;
- a deleted entry leaves a gap in the ids (ids are the previous id + 1, given under a lock,
  never by a sequence) and a ``prev_hash`` that matches nothing;
- swapped contents put an entry's fields under another id, which its hash does not match.

What a chain alone cannot show is a cut tail: delete the last *k* entries and the rest is a
valid, shorter chain (so is a chain rewritten wholesale by someone who can also recompute the
hashes). Against that, keep the head out of the database — :func:`audit_head`
(``vigia audit head``) gives ``(entries, hash)``; write it to a ticket, a log shipper or
paper — and give it back to :func:`verify_audit` (``vigia audit verify --head N:HASH``), which
then checks that entry N is still there with that hash.

Appends are serialised: SQLite write transactions take the database lock at ``BEGIN``
(:func:`vigia.store.db.write_session`); on PostgreSQL :func:`append_audit` takes a
transaction-scoped advisory lock first. Two appenders never chain to the same predecessor.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from vigia.errors import InputError
from vigia.store.models import AUDIT_OUTCOMES, AuditEntry
from vigia.store.records import check_utc

__all__ = [
    "GENESIS_HASH",
    "AuditVerdict",
    "append_audit",
    "audit_head",
    "entry_hash",
    "list_audit",
    "verify_audit",
]

GENESIS_HASH: Final = "0" * 64
"""``prev_hash`` of the first entry."""

_LOCK_KEY: Final = 0x56494741  # "VIGA": PostgreSQL advisory lock that serialises appends
_BATCH: Final = 1000


@dataclass(frozen=True)
class AuditVerdict:
    """What :func:`verify_audit` found.

    Attributes
    ----------
    ok : bool
        The chain is intact.
    entries : int
        Entries read.
    first_bad : int or None
        Id of the first bad entry (for a deletion, the id that is missing).
    problem : str or None
        What is wrong with it, in a sentence.
    """

    ok: bool
    entries: int
    first_bad: int | None
    problem: str | None


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(
    *,
    id: int,
    time: datetime,
    actor: str,
    org: str,
    role: str,
    action: str,
    obj: str,
    client: str | None,
    outcome: str,
    detail: dict[str, Any],
    prev_hash: str,
) -> str:
    """Return the SHA-256 hex digest of an entry's canonical JSON (see the module docstring)."""
    doc = {
        "id": id,
        "time": _iso(time),
        "actor": actor,
        "org": org,
        "role": role,
        "action": action,
        "object": obj,
        "client": client,
        "outcome": outcome,
        "detail": detail,
        "prev_hash": prev_hash,
    }
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _hash_of(e: AuditEntry) -> str:
    return entry_hash(
        id=e.id,
        time=e.time,
        actor=e.actor,
        org=e.org,
        role=e.role,
        action=e.action,
        obj=e.object,
        client=e.client,
        outcome=e.outcome,
        detail=e.detail,
        prev_hash=e.prev_hash,
    )


def _field(value: str, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value:
        raise InputError(f"audit entry: {what} must be a non-empty string, got {value!r}")
    return value if len(value) <= limit else value[: limit - 1] + "…"


def append_audit(
    session: Session,
    *,
    actor: str,
    org: str,
    role: str,
    action: str,
    obj: str,
    outcome: str,
    client: str | None,
    detail: dict[str, Any] | None = None,
    now: datetime,
) -> int:
    """Append an entry to the audit log, in the caller's transaction.

    Parameters
    ----------
    session : Session
        An open write session (:func:`vigia.store.db.write_session`): the entry commits with
        the change it records, or not at all.
    actor, org, role : str
        Who acted (``anonymous``, ``-``, ``-`` when a request had no valid principal).
    action : str
        What was asked (``release.create``, ``token.issue``, ``GET /collections/…``).
    obj : str
        What it was asked of (``REL-0001``, ``SITE-000042``; ``-`` for none).
    outcome : {"ok", "refused", "error"}
        How it ended.
    client : str or None
        Where from (``cli``, ``127.0.0.1:51234``).
    detail : dict, optional
        JSON-serialisable particulars (reason of a refusal, marking of a release).
    now : datetime
        Time of the event, UTC-aware.

    Returns
    -------
    int
        The entry's id.

    Raises
    ------
    InputError
        An empty field, an unknown outcome, or a detail that is not JSON.
    """
    when = check_utc(now, "audit entry: now").astimezone(UTC)
    if outcome not in AUDIT_OUTCOMES:
        raise InputError(
            f"audit entry: outcome {outcome!r} is not one of {', '.join(AUDIT_OUTCOMES)}"
        )
    fields = {
        "actor": _field(actor, "actor", 128),
        "org": _field(org, "org", 128),
        "role": _field(role, "role", 32),
        "action": _field(action, "action", 64),
        "obj": _field(obj, "object", 256),
    }
    if client is not None:
        client = _field(client, "client", 256)
    try:
        # Round trip so that what is hashed is exactly what the JSON column gives back.
        body: dict[str, Any] = json.loads(json.dumps(dict(detail or {}), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InputError(f"audit entry: detail is not JSON-serialisable: {exc}") from None
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    last = session.execute(
        select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
    ).one_or_none()
    new_id, prev = (1, GENESIS_HASH) if last is None else (last[0] + 1, last[1])
    digest = entry_hash(
        id=new_id,
        time=when,
        client=client,
        outcome=outcome,
        detail=body,
        prev_hash=prev,
        **fields,
    )
    session.add(
        AuditEntry(
            id=new_id,
            time=when,
            actor=fields["actor"],
            org=fields["org"],
            role=fields["role"],
            action=fields["action"],
            object=fields["obj"],
            client=client,
            outcome=outcome,
            detail=body,
            prev_hash=prev,
            hash=digest,
        )
    )
    session.flush()
    return new_id


def audit_head(session: Session) -> tuple[int, str]:
    """Return ``(entries, hash of the last entry)``: the anchor to keep outside the database.

    An empty log gives ``(0, GENESIS_HASH)``.
    """
    last = session.execute(
        select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
    ).one_or_none()
    return (0, GENESIS_HASH) if last is None else (int(last[0]), str(last[1]))


def verify_audit(session: Session, *, head: tuple[int, str] | None = None) -> AuditVerdict:
    """Recompute the hash chain and name the first bad entry.

    Parameters
    ----------
    session : Session
        An open session.
    head : (int, str), optional
        A head kept earlier (:func:`audit_head`): entry ``head[0]`` must still exist with hash
        ``head[1]``, which catches a cut tail.

    Returns
    -------
    AuditVerdict
        ``ok`` with the number of entries, or the first bad entry's id and what is wrong.
    """
    n = 0
    prev_id, prev_hash = 0, GENESIS_HASH
    head_seen = head is None or head[0] == 0
    after = 0
    while True:
        batch = list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.id > after)
                .order_by(AuditEntry.id)
                .limit(_BATCH)
            )
        )
        if not batch:
            break
        for e in batch:
            n += 1
            if e.id != prev_id + 1:
                missing = prev_id + 1
                return AuditVerdict(
                    False,
                    n,
                    missing,
                    f"entry {missing} is missing (deleted): entry {e.id} follows "
                    + (f"entry {prev_id}" if prev_id else "the start of the log"),
                )
            if e.prev_hash != prev_hash:
                return AuditVerdict(
                    False,
                    n,
                    e.id,
                    f"entry {e.id} does not chain to entry {prev_id}: its prev_hash "
                    f"{e.prev_hash[:12]}… is not {prev_hash[:12]}… (an entry before it was "
                    "edited and re-hashed, replaced or reordered)",
                )
            if _hash_of(e) != e.hash:
                return AuditVerdict(
                    False,
                    n,
                    e.id,
                    f"entry {e.id} does not match its hash: its contents were edited or "
                    "moved from another entry",
                )
            if head is not None and e.id == head[0]:
                if e.hash != head[1]:
                    return AuditVerdict(
                        False,
                        n,
                        e.id,
                        f"entry {e.id} has hash {e.hash[:12]}…, the kept head says "
                        f"{head[1][:12]}…: the log was rewritten",
                    )
                head_seen = True
            prev_id, prev_hash = e.id, e.hash
        after = batch[-1].id
    if not head_seen:
        assert head is not None
        return AuditVerdict(
            False,
            n,
            prev_id + 1,
            f"the log ends at entry {prev_id} but the kept head is entry {head[0]}: "
            f"entries {prev_id + 1}–{head[0]} were cut off",
        )
    return AuditVerdict(True, n, None, None)


def list_audit(session: Session, *, limit: int = 100) -> list[dict[str, Any]]:
    """Return the last ``limit`` entries, newest first, as plain dicts."""
    rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit))
    return [
        {
            "id": e.id,
            "time": e.time,
            "actor": e.actor,
            "org": e.org,
            "role": e.role,
            "action": e.action,
            "object": e.object,
            "client": e.client,
            "outcome": e.outcome,
            "detail": e.detail,
            "hash": e.hash,
        }
        for e in rows
    ]
