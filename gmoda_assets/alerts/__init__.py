"""Alerts to the platform team: failed runs, failed blocking checks and overdue feeds, by email and/or webhook."""
