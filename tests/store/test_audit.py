"""The audit log: a hash chain that shows any edit, deletion or reordering, on both back ends."""

import itertools
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from vigia.errors import InputError
from vigia.store import SessionFactory, read_session, write_session
from vigia.store.audit import GENESIS_HASH, append_audit, audit_head, verify_audit
from vigia.store.models import AuditEntry

from .conftest import T0, row_counts


def append(store: SessionFactory, n: int, **fields: Any) -> list[int]:
    ids = []
    for i in range(n):
        with write_session(store) as s:
            entry = {
                "actor": "ana",
                "org": "AGENCY",
                "role": "analyst",
                "action": "site.confirm",
                "obj": f"SITE-{i:06d}",
                "outcome": "ok",
                "client": "cli",
                "detail": {"i": i, "why": "plume on 3 passes", "weight": 0.1 * i},
                "now": T0 + timedelta(seconds=i, microseconds=i),
            } | fields
            ids.append(append_audit(s, **entry))
    return ids


def verdict(store: SessionFactory) -> tuple[bool, int, int | None]:
    with read_session(store) as s:
        v = verify_audit(s)
    return v.ok, v.entries, v.first_bad


def test_an_empty_log_is_intact(store: SessionFactory) -> None:
    with read_session(store) as s:
        assert verify_audit(s).ok
        assert audit_head(s) == (0, GENESIS_HASH)


def test_entries_chain_from_sixty_four_zeros_and_verify(store: SessionFactory) -> None:
    assert append(store, 5) == [1, 2, 3, 4, 5]
    with read_session(store) as s:
        rows = list(s.scalars(select(AuditEntry).order_by(AuditEntry.id)))
        head = audit_head(s)
    assert rows[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    assert head == (5, rows[-1].hash)
    assert verdict(store) == (True, 5, None)


def test_an_edited_field_is_named(store: SessionFactory) -> None:
    append(store, 6)
    with write_session(store) as s:
        s.execute(update(AuditEntry).where(AuditEntry.id == 4).values(actor="mallory"))
    ok, _, bad = verdict(store)
    assert (ok, bad) == (False, 4)
    with read_session(store) as s:
        assert "edited" in (verify_audit(s).problem or "")


def test_an_edited_detail_is_named(store: SessionFactory) -> None:
    append(store, 3)
    with write_session(store) as s:
        s.execute(update(AuditEntry).where(AuditEntry.id == 2).values(detail={"i": 99}))
    assert verdict(store)[::2] == (False, 2)


def test_a_deleted_entry_is_named(store: SessionFactory) -> None:
    append(store, 6)
    with write_session(store) as s:
        s.execute(delete(AuditEntry).where(AuditEntry.id == 3))
    with read_session(store) as s:
        v = verify_audit(s)
    assert (v.ok, v.first_bad) == (False, 3)
    assert "missing" in (v.problem or "")


def test_deleting_the_first_entry_is_named(store: SessionFactory) -> None:
    append(store, 3)
    with write_session(store) as s:
        s.execute(delete(AuditEntry).where(AuditEntry.id == 1))
    assert verdict(store)[::2] == (False, 1)


def test_swapping_two_entries_contents_is_named(store: SessionFactory) -> None:
    append(store, 6)
    cols = [c for c in AuditEntry.__table__.columns if c.name != "id"]
    with write_session(store) as s:
        a, b = (s.execute(select(*cols).where(AuditEntry.id == k)).one()._asdict() for k in (2, 5))
        s.execute(update(AuditEntry).where(AuditEntry.id == 2).values(**b))
        s.execute(update(AuditEntry).where(AuditEntry.id == 5).values(**a))
    assert verdict(store)[::2] == (False, 2)


def test_a_cut_tail_shows_only_against_a_head_kept_elsewhere(store: SessionFactory) -> None:
    append(store, 5)
    with read_session(store) as s:
        head = audit_head(s)
    with write_session(store) as s:
        s.execute(delete(AuditEntry).where(AuditEntry.id >= 4))
    assert verdict(store) == (True, 3, None)  # a chain alone cannot tell
    with read_session(store) as s:
        v = verify_audit(s, head=head)
    assert (v.ok, v.first_bad) == (False, 4)
    assert "cut off" in (v.problem or "")


def test_a_bad_entry_is_refused_and_nothing_is_written(store: SessionFactory) -> None:
    append(store, 1)
    before = row_counts(store)
    for bad in ({"outcome": "maybe"}, {"actor": ""}, {"detail": {"x": object()}}):
        with pytest.raises(InputError), write_session(store) as s:
            append_audit(
                s,
                **(
                    {
                        "actor": "ana",
                        "org": "AGENCY",
                        "role": "analyst",
                        "action": "x",
                        "obj": "-",
                        "outcome": "ok",
                        "client": None,
                        "now": T0,
                    }
                    | bad
                ),
            )
    assert row_counts(store) == before


def test_concurrent_appenders_keep_the_chain_valid(store: SessionFactory) -> None:
    n_threads, per_thread = 6, 15
    errors: list[BaseException] = []
    start = threading.Barrier(n_threads)

    def work(k: int) -> None:
        try:
            start.wait()
            append(store, per_thread, actor=f"worker-{k}")
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert verdict(store) == (True, n_threads * per_thread, None)
