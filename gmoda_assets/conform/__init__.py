"""The conformed layer: staging tables conformed to common dimensions (date, geography, partner) and facts."""
