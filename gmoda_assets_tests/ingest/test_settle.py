"""A file is registered only once it has stopped changing: a file still being written makes no run and no
failure, whether a sensor ticks or `gmoda ingest` runs while it grows; a file the store has not seen written for
the settle time is registered on its first scan."""

import hashlib
import os
import threading
import time
from pathlib import Path

import psycopg
import pytest

from gmoda_assets.ingest.drops import scan_partner
from gmoda_assets.ingest.runner import ingest_landing_zone
from gmoda_assets.lib import settings
from gmoda_assets_tests.helpers import FILE_OF_DROP, all_drop_keys, contract_of, file_rows
from gmoda_assets_tests.ingest.sensing import launch, tick


class SlowWriter(threading.Thread):
    """Writes a partner file into the landing zone in pieces, as a slow upload does."""

    def __init__(self, content: bytes, target, pieces: int, pause: float):
        super().__init__(daemon=True)
        self.content, self.target, self.pieces, self.pause = content, target, pieces, pause
        self.last_write: float | None = None

    def run(self):
        step = len(self.content) // self.pieces + 1
        with self.target.open("wb") as out:
            for start in range(0, len(self.content), step):
                out.write(self.content[start:start + step])
                out.flush()
                self.last_write = time.time()
                time.sleep(self.pause)


def _births(simulated_month):
    path = next(p for p in (simulated_month / "nhs").iterdir() if contract_of(p).feed == "births")
    return path, path.read_bytes()


def _raw_births(url: str, file_name: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT count(*) FROM raw.nhs__births WHERE coalesce({FILE_OF_DROP}, %s) = %s",
                            (file_name, file_name)).fetchone()[0]


def _start_writing(simulated_month, pieces: int, pause: float) -> tuple[Path, bytes, SlowWriter]:
    """Start writing the simulated births file into the landing zone slowly; return once the file exists."""
    source, content = _births(simulated_month)
    (settings.landing_dir() / "nhs").mkdir()
    target = settings.landing_dir() / "nhs" / source.name
    writer = SlowWriter(content, target, pieces=pieces, pause=pause)
    writer.start()
    while not target.exists():
        time.sleep(0.01)
    return source, content, writer


def test_sensor_registers_a_growing_file_only_once_it_settles(platform, instance, defs, warehouse_url,
                                                              simulated_month, monkeypatch):
    monkeypatch.setenv("GMODA_SETTLE_SECONDS", "1")
    source, content, writer = _start_writing(simulated_month, pieces=20, pause=0.15)

    cursor, ticks_while_writing = None, 0
    while writer.is_alive():
        result = tick(instance, cursor, platform)
        assert not result.run_requests, "a file still being written must not be registered"
        cursor, ticks_while_writing = result.cursor, ticks_while_writing + 1
        time.sleep(0.2)
    assert ticks_while_writing >= 5 and not all_drop_keys(instance)

    deadline = time.time() + 30
    while not (result := tick(instance, cursor, platform)).run_requests:
        assert time.time() < deadline, "the finished file never settled"
        cursor = result.cursor
        time.sleep(0.2)
    assert time.time() - writer.last_write >= 1, "registered before it had been unchanged for the settle time"
    [request] = result.run_requests
    assert request.partition_key == f"nhs.births/{source.name}@{hashlib.sha256(content).hexdigest()[:12]}"
    [run] = launch(instance, defs, result)
    assert run.success and _raw_births(warehouse_url, source.name) == file_rows(source)


def test_ingest_leaves_a_file_being_written_for_the_next_ingest(platform, instance, defs, warehouse_url,
                                                                simulated_month):
    source, content, writer = _start_writing(simulated_month, pieces=40, pause=0.1)

    growing = ingest_landing_zone(instance, defs, platform, ["nhs"], settle_seconds=0.5)
    assert writer.is_alive(), "the file must still have been growing for the whole ingest"
    assert growing.tally.runs == 0 and growing.tally.failures == [] and growing.unsettled == [f"nhs/{source.name}"]
    assert not all_drop_keys(instance) and _raw_births(warehouse_url, source.name) == 0

    writer.join()
    done = ingest_landing_zone(instance, defs, platform, ["nhs"], settle_seconds=0.5)
    assert done.tally.runs == 1 and done.tally.failures == [] and done.unsettled == []
    assert _raw_births(warehouse_url, source.name) == file_rows(source)


@pytest.mark.parametrize("value", ["soon", "-1", "inf"])
def test_settle_time_must_be_a_duration(monkeypatch, value):
    monkeypatch.setenv("GMODA_SETTLE_SECONDS", value)
    with pytest.raises(ValueError, match="GMODA_SETTLE_SECONDS"):
        settings.settle_seconds()


def _land_births(simulated_month) -> tuple[Path, bytes, Path]:
    """The simulated births file written whole into the landing zone: its source, content and landed path."""
    source, content = _births(simulated_month)
    target = settings.landing_dir() / "nhs" / source.name
    target.parent.mkdir()
    target.write_bytes(content)
    return source, content, target


def _scan(landing_zone, now: float, previous=None, settle_seconds: float = 10):
    return scan_partner(landing_zone, "nhs", {}, previous, now, settle_seconds)


def test_a_file_unwritten_for_the_settle_time_is_a_drop_on_its_first_scan(platform, simulated_month):
    source, content, target = _land_births(simulated_month)
    written = target.stat().st_ctime
    # Its modification time set back (as a partner's client can) does not make it look older: its change time moves.
    os.utime(target, (written - 3600, written - 3600))
    written = target.stat().st_ctime

    young = _scan(platform, now=written + 9)
    assert young.unsettled == [source.name] and young.new == [] and young.settled_now == set()
    [drop] = _scan(platform, now=written + 10.01).new
    assert drop.drop_id == f"nhs.births/{source.name}@{hashlib.sha256(content).hexdigest()[:12]}"
    # A change time ahead of the scanner's clock proves nothing: the file waits for a second look.
    assert _scan(platform, now=written - 60).unsettled == [source.name]


def test_a_file_rewritten_between_scans_starts_settling_again(platform, simulated_month):
    source, content, target = _land_births(simulated_month)
    first_written = target.stat().st_ctime
    first = _scan(platform, now=first_written + 1)
    assert first.unsettled == [source.name]

    time.sleep(1.1)
    rewritten = content + content.splitlines(keepends=True)[1]
    target.write_bytes(rewritten)
    assert target.stat().st_ctime > first_written + 1
    # The settle time has passed since the first scan, but the file changed since: it is young again.
    second = _scan(platform, now=first_written + 11, previous=first.seen)
    assert second.unsettled == [source.name] and second.new == []
    [drop] = _scan(platform, now=first_written + 21.5, previous=second.seen).new
    assert drop.content_hash == hashlib.sha256(rewritten).hexdigest()


def test_sensor_requests_an_old_file_on_its_first_tick(platform, instance, defs, warehouse_url, simulated_month,
                                                       monkeypatch):
    monkeypatch.setenv("GMODA_SETTLE_SECONDS", "1")
    source, content, target = _land_births(simulated_month)
    time.sleep(max(0.0, target.stat().st_ctime + 1.05 - time.time()))
    result = tick(instance, None, platform)  # a sensor's first look (no cursor)
    [request] = result.run_requests
    assert request.partition_key == f"nhs.births/{source.name}@{hashlib.sha256(content).hexdigest()[:12]}"
    [run] = launch(instance, defs, result)
    assert run.success and _raw_births(warehouse_url, source.name) == file_rows(source)
