"""Where the platform keeps its files, from environment variables with defaults under the project folder.

GMODA_HOME           platform state: embedded database, landing zone, quarantine (default: <project>/.gmoda)
GMODA_LANDING_DIR    partner file drops, one folder per partner (default: $GMODA_HOME/landing)
GMODA_QUARANTINE_DIR rejected files and their reasons (default: $GMODA_HOME/quarantine)
GMODA_DATABASE_URL   an existing PostgreSQL server to use instead of the embedded one
GMODA_SETTLE_SECONDS how long a landed file must stay unchanged before it is registered (default: 60)
GMODA_TRUTH_DIR      a simulation's ground truth, to measure the linkage against (demos, tests; never in production)
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def project_dir() -> Path:
    """The source checkout the package runs from (it holds dagster.yaml and sql/)."""
    return Path(os.environ.get("GMODA_PROJECT_DIR", PACKAGE_DIR.parent)).resolve()


def home_dir() -> Path:
    return Path(os.environ.get("GMODA_HOME", project_dir() / ".gmoda")).resolve()


def landing_dir() -> Path:
    return Path(os.environ.get("GMODA_LANDING_DIR", home_dir() / "landing")).resolve()


def quarantine_dir() -> Path:
    return Path(os.environ.get("GMODA_QUARANTINE_DIR", home_dir() / "quarantine")).resolve()


def truth_dir() -> Path | None:
    """The simulator's ground truth (``<landing>_truth``), when one is configured: evaluation only."""
    text = os.environ.get("GMODA_TRUTH_DIR", "")
    return Path(text).resolve() if text else None


def sql_dir() -> Path:
    return project_dir() / "sql"


# Long enough to outlast the stalls of an upload over a congested link (TCP backs off retransmissions to tens of
# seconds), short enough that a file waits little more than a minute (plus a sensor interval) before it loads.
DEFAULT_SETTLE_SECONDS = 60.0


def settle_seconds() -> float:
    """How long a landed file must stay unchanged (size, times, content) before it is registered as a drop."""
    text = os.environ.get("GMODA_SETTLE_SECONDS", "")
    try:
        value = float(text) if text else DEFAULT_SETTLE_SECONDS
    except ValueError:
        raise ValueError(f"GMODA_SETTLE_SECONDS must be a number of seconds, not {text!r}") from None
    if not 0 <= value < float("inf"):
        raise ValueError(f"GMODA_SETTLE_SECONDS must be zero or more seconds, not {text!r}")
    return value
