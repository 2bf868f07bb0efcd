"""Ingest: a detection file goes in whole or not at all, once."""

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from vigia.detect.detection import read_detections, write_detections
from vigia.errors import FileFormatError, InputError
from vigia.store import (
    SessionFactory,
    ingest_detections,
    session_factory,
    unassociated_detections,
)
from vigia.store.models import DetectionRow, FlightLine, Ingest

from .conftest import make_detections, make_lines, row_counts

MakeFile = Callable[..., Path]


def test_a_file_is_stored_with_its_lines_and_detections(
    store: SessionFactory, detection_file: MakeFile
) -> None:
    path = detection_file(n=40)
    result = ingest_detections(store, path)
    assert not result.already_ingested
    assert (result.n_detections, result.n_lines, result.n_new_lines) == (40, 4, 4)
    assert result.ingested_at.tzinfo is not None
    counts = row_counts(store)
    assert (counts["ingests"], counts["flight_lines"], counts["detections"]) == (1, 4, 40)
    assert "40 detections" in result.summary()


def test_what_comes_out_is_what_went_in(store: SessionFactory, detection_file: MakeFile) -> None:
    path = detection_file(n=12)
    ingest_detections(store, path)
    original, _ = read_detections(path)
    stored = unassociated_detections(store)
    assert [d.to_detection() for d in sorted(stored, key=lambda d: d.detection_id)] == sorted(
        original, key=lambda d: d.id
    )
    assert all(d.time.utcoffset() is not None and d.time.utcoffset().seconds == 0 for d in stored)


def test_ingesting_the_same_file_again_does_nothing_and_says_so(
    store: SessionFactory, detection_file: MakeFile
) -> None:
    path = detection_file(n=10)
    first = ingest_detections(store, path)
    before = row_counts(store)
    again = ingest_detections(store, path)
    assert again.already_ingested
    assert again.ingest_id == first.ingest_id
    assert again.n_detections == 0
    assert "already ingested" in again.summary()
    assert row_counts(store) == before


def test_a_line_seen_in_two_files_is_stored_once(
    store: SessionFactory, detection_file: MakeFile
) -> None:
    ingest_detections(store, detection_file(n=10, name="a.geojson", seed=1))
    second = ingest_detections(store, detection_file(n=10, name="b.geojson", seed=2))
    assert second.n_new_lines == 0
    counts = row_counts(store)
    assert (counts["ingests"], counts["flight_lines"], counts["detections"]) == (2, 4, 20)


def _rewrite(path: Path, change: Callable[[dict], None]) -> Path:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))
    return path


def _lon_out_of_range(doc: dict) -> None:
    doc["features"][3]["geometry"]["coordinates"][0] = 190.0


def _footprint_out_of_range(doc: dict) -> None:
    doc["features"][3]["properties"]["footprint"]["coordinates"][0][0] = [-107.3, 95.0]


def _unlisted_line(doc: dict) -> None:
    doc["features"][3]["properties"]["line_id"] = "L999"


def _unknown_field(doc: dict) -> None:
    doc["features"][3]["properties"]["colour"] = "red"


def _naive_line_time(doc: dict) -> None:
    doc["lines"][0]["time_start"] = "2025-03-04T18:00:00"


def _duplicate_id(doc: dict) -> None:
    doc["features"][3]["properties"]["id"] = doc["features"][2]["properties"]["id"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_lon_out_of_range, r"feature 3: .*less than or equal to 180"),
        (_footprint_out_of_range, r"feature 3 \(detection '.*'\): footprint coordinate out of"),
        (_unlisted_line, r"feature 3 .*line 'L999' \(.*\) is not among the file's lines"),
        (_unknown_field, r"feature 3: .*colour"),
        (_naive_line_time, r"line 0 .*time_start: .* has no time zone"),
        (_duplicate_id, r"feature 3 .*id used by an earlier feature"),
    ],
)
def test_bad_input_is_refused_naming_file_and_feature_and_nothing_changes(
    store: SessionFactory,
    detection_file: MakeFile,
    change: Callable[[dict], None],
    message: str,
) -> None:
    ingest_detections(store, detection_file(n=10, name="good.geojson", seed=5))
    before = row_counts(store)
    bad = _rewrite(detection_file(n=10, name="bad.geojson"), change)
    with pytest.raises(FileFormatError, match=f"(?s){message}") as err:
        ingest_detections(store, bad)
    assert str(bad) in str(err.value)
    assert isinstance(err.value, InputError)
    assert row_counts(store) == before


def test_a_file_that_is_not_json_is_refused(store: SessionFactory, tmp_path: Path) -> None:
    bad = tmp_path / "notes.geojson"
    bad.write_text("lab at the river bend")
    with pytest.raises(FileFormatError, match=r"notes\.geojson: cannot read as JSON"):
        ingest_detections(store, bad)
    with pytest.raises(FileFormatError, match=r"missing\.geojson: cannot read"):
        ingest_detections(store, tmp_path / "missing.geojson")
    assert sum(row_counts(store).values()) == 0


# The child ingests a big file and, once half of it is written inside its transaction, says so
# and waits on stdin, so that the kill always lands mid-transaction.
CHILD = """
import sys
from pathlib import Path
from vigia.store import ingest_detections, make_engine, session_factory

url, path = sys.argv[1], Path(sys.argv[2])
factory = session_factory(make_engine(url))

def progress(written: int, total: int) -> None:
    if written >= total // 2:
        print(f"inside {written} {total}", flush=True)
        sys.stdin.readline()

ingest_detections(factory, path, batch_size=1000, progress=progress)
print("committed", flush=True)
"""


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lines = make_lines(3)
    path = tmp_path_factory.mktemp("big") / "big.geojson"
    return write_detections(path, make_detections(N_BIG, lines), lines, source="tests/store")


N_BIG = 8000


def test_a_killed_ingest_leaves_all_or_nothing(
    engine: Engine, big_file: Path, backend: str
) -> None:
    path = big_file
    url = engine.url.render_as_string(hide_password=False)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.startswith(f"inside {N_BIG // 2} {N_BIG}"), line + (
            child.stderr.read() if child.stderr else ""
        )
        store = session_factory(engine)
        assert row_counts(store)["detections"] == 0  # written, not committed
        if backend == "postgresql":
            with engine.connect() as conn:
                states = (
                    conn.execute(
                        text(
                            "SELECT state FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
                            " AND datname = current_database()"
                        )
                    )
                    .scalars()
                    .all()
                )
            assert "idle in transaction" in states
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.communicate()
    assert child.returncode == -signal.SIGKILL
    assert sum(row_counts(store).values()) == 0  # nothing

    result = ingest_detections(store, path)  # and the same file goes in whole afterwards
    assert not result.already_ingested
    with store() as s:
        assert s.scalar(select(func.count()).select_from(DetectionRow)) == N_BIG
        assert s.scalar(select(func.count()).select_from(FlightLine)) == 6
        assert s.scalar(select(Ingest.n_detections)) == N_BIG
