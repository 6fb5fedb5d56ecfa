"""Killing a process with the processes it started (what a dead run worker's step processes get)."""

import subprocess
import sys
import time

from gmoda_assets.lib.processes import children, kill_with_children, process_start


def test_a_process_is_killed_with_the_processes_it_started():
    """A step killed just after starting a ``tail`` and before starting the watcher that would stop it left the
    tail running for good: its children go with it."""
    parent = subprocess.Popen([sys.executable, "-c", "import subprocess, time\n"
                               "subprocess.Popen(['sleep', '300']); subprocess.Popen(['sleep', '301'])\n"
                               "time.sleep(300)"])
    deadline = time.monotonic() + 10
    while len(started := children(parent.pid)) < 2:
        assert time.monotonic() < deadline, started
        time.sleep(0.05)
    try:
        kill_with_children(parent.pid)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5  # the children, now init's, are reaped by it
        while alive := [pid for pid in started if process_start(pid) is not None]:  # a zombie is not
            assert time.monotonic() < deadline, alive
            time.sleep(0.05)
    finally:
        for pid in [parent.pid, *started]:
            subprocess.run(["kill", "-9", str(pid)], capture_output=True)
