"""Marts: disclosure-controlled aggregates for Tableau and R, each a product table (a spec with a purpose, made
by ``gmoda_assets.lib.table_assets``) under the statistical-disclosure rules in ``governance/disclosure.yaml``."""
