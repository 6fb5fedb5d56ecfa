"""GM ODA data platform: the `gmoda_assets` Dagster code location (see definitions.py)."""

import warnings

# Dagster's own @sensor passes its beta `owners` parameter to every sensor it builds; nothing for us to act on.
warnings.filterwarnings("ignore", message="Parameter `owners`")
