"""Progress of the long commands: a live bar on a terminal, one plain line per step anywhere else.

The commands run as a platform team runs them, in a process of their own whose standard output is a pipe (as
under CI or a log collector) or a terminal (a pseudo-terminal here). That no progress line carries an identifier
value is proved with the rest of the console by
``ingest/test_no_identifier_leaks.py::test_no_identifier_reaches_events_quarantine_ops_or_console``.
"""

import os
import pty
import re
import subprocess
import sys

from gmoda_assets.lib import settings
from gmoda_assets_tests.helpers import contract_of, copy_drops

GMODA = [sys.executable, "-m", "gmoda_assets.cli"]
LINE = re.compile(r"^(\w+): (\d+)/(\d+) (\w+), elapsed \d+:\d\d:\d\d(?:, about \d+:\d\d:\d\d left)?: (.+)$")


def _in_a_terminal(argv: list[str]) -> str:
    """What ``argv`` writes to a terminal 120 columns wide, escape codes and all."""
    main, child = pty.openpty()
    process = subprocess.Popen(argv, stdout=child, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                               env={**os.environ, "COLUMNS": "120", "TERM": "xterm-256color"})
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the terminal's far end closed: the command has ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    assert process.wait(timeout=60) == 0
    return b"".join(chunks).decode()


def test_a_pipe_gets_one_plain_line_per_drop(platform, simulated_month):
    drops = copy_drops(simulated_month, settings.landing_dir(), ["nhs", "gmp", "stockport_homes"])
    out = subprocess.run([*GMODA, "ingest"], stdout=subprocess.PIPE, text=True, check=True, timeout=300).stdout
    assert "\x1b" not in out and "\r" not in out  # no bar, no colour: a log reads it line by line
    lines = out.splitlines()
    assert lines[0] == f"ingest: {len(drops)} drops to do", out
    steps = [LINE.match(line) for line in lines[1:1 + len(drops)]]
    assert all(steps), out
    assert [(m[1], int(m[2]), int(m[3]), m[4]) for m in steps] == [("ingest", k, len(drops), "drops")
                                                                    for k in range(1, len(drops) + 1)]
    # Each drop is named by its feed, never by the file name a partner chose (the report after them names drops by
    # their ids, as it did before progress was shown).
    assert sorted(m[5] for m in steps) == sorted(f"{contract_of(d).feed_id} loaded" for d in drops)
    assert not [line for line in lines[:1 + len(drops)] if any(d.name in line for d in drops)]
    assert lines[1 + len(drops)].startswith(f"Landing zone {settings.landing_dir()}: {len(drops)} files, "
                                            f"{len(drops)} new drops run")


def test_a_terminal_gets_a_live_bar(platform, simulated_month):
    drops = copy_drops(simulated_month, settings.landing_dir(), ["gmp", "stockport_homes"])
    screen = _in_a_terminal([*GMODA, "ingest"])
    assert "\x1b[" in screen and "\r" in screen  # redrawn in place
    frames = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)
    assert re.search(rf"ingest\D+0/{len(drops)} drops elapsed 0:00:\d\d left -:--:--", frames), frames
    last = re.findall(rf"ingest\D+{len(drops)}/{len(drops)} drops elapsed (\d+:\d\d:\d\d) left (\d+:\d\d:\d\d) (\S+)",
                      frames)
    assert last and last[-1][1] == "0:00:00" and last[-1][2] in {contract_of(d).feed_id for d in drops}, frames
    assert not LINE.search(frames)  # not the lines a log gets
    assert f"{len(drops)} new drops run" in frames
