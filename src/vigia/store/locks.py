"""The lock that puts the writes changing what partners see in one queue (PostgreSQL).

Migration 0006's triggers keep ``partner_sites`` exact in the transaction of every change to
sites, releases, recipients, acknowledgements and outcomes; each such write touches those
rows, and the site rows, in an order of its own. Two at once on shared sites could deadlock on
PostgreSQL (fusion merging passes into a released site while its partner acknowledges it did).
So each of them takes one transaction-scoped advisory lock *before any other lock*: releases,
amendments, withdrawals, acknowledgements, outcomes, the restoring of partner features,
fusion's upsert of sites and every lifecycle transition of a site. They are rare or
human-paced writes, and they queue. SQLite's write lock, taken at ``BEGIN IMMEDIATE``, already
serialises every write.

Lock order, everywhere: this lock, then the sites (rows or table), then the release-id lock,
then the audit lock.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import text
from sqlalchemy.orm import Session

__all__ = ["SHARING_LOCK_KEY", "serialise_sharing"]

SHARING_LOCK_KEY: Final = 0x56494744
"""PostgreSQL advisory lock key of the writes that change what partners see ("VIGD")."""


def serialise_sharing(session: Session) -> None:
    """Take the sharing lock for the rest of the session's transaction (PostgreSQL only).

    Parameters
    ----------
    session : Session
        A write session, before it has taken any other lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SHARING_LOCK_KEY})
