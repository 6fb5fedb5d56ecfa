"""Marts: disclosure-controlled aggregates for Tableau and R, each made by the product factory
(``gmoda_assets/lib/products.py``) under the statistical-disclosure rules in ``governance/disclosure.yaml``."""
