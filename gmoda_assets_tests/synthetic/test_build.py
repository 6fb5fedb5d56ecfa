"""One synthesis from real rows to figures (gmoda_assets/synthetic/build.py), on the tests' made-up population:
every figure has its row, a sound synthesis keeps the risk limits, and each risk check fails when the
synthesiser copies the real children and nothing removes the copies."""

import pytest

from gmoda_assets.synthetic import build
from gmoda_assets.synthetic.assets import QUALITY_CHECKS
from gmoda_assets.synthetic.config import synthetic_config
from gmoda_assets_tests.synthetic.test_measures import _population

RISK = [name for name, blocking, _ in QUALITY_CHECKS if blocking]


@pytest.fixture(scope="module")
def setting():
    """The shipped configuration, with the tests' population's columns."""
    shipped = synthetic_config()
    shipped_as = {"ward17cd": "ward", "birth_month": "birth_month", "sex": "sex", "birth_weight_grams": "birth_weight",
                  "fsm_eligible": "fsm", "gld": "gld"}
    variables = [v.model_copy(update={"name": shipped_as[v.name]}) for v in shipped.variables if v.name in shipped_as]
    rates = [r.model_copy(update={"column": shipped_as[r.column]}) for r in shipped.rates if r.column in shipped_as]
    config = shipped.model_copy(update={"by": "council", "variables": variables, "rates": rates,
                                        "quasi_identifiers": ["council", "ward", "birth_month", "sex"],
                                        "sensitive": ["fsm"]})
    real = _population(per_council=300).assign(
        fsm=lambda f: f.fsm.astype(object), gld=lambda f: f.gld.astype(object))
    return real, config


def test_a_sound_synthesis_keeps_every_risk_limit(setting):
    real, config = setting
    made = build.synthesise_children(real, config)
    quality = made.quality
    assert set(quality.check_name) == {name for name, _, _ in QUALITY_CHECKS}
    assert quality[quality.check_name.isin(RISK)].passed.all(), quality[~quality.passed]
    assert list(made.children.columns) == ["synthetic_id", *config.columns]
    assert made.figures["no_exact_copies"]["exact_copies"] == 0
    assert len(made.children) == len(real) - made.summary["copies_removed"] - made.summary["replicated_uniques_removed"]


def test_every_risk_check_fails_on_copies_left_in(setting, monkeypatch):
    real, config = setting
    kept = config.model_copy(update={"risk": config.risk.model_copy(update={"remove_replicated_uniques": False})})
    monkeypatch.setattr(build, "synthesise", lambda training, *_: training.copy())
    monkeypatch.setattr(build, "without_copies", lambda made, real, columns: (made, 0))
    quality = build.synthesise_children(real, kept).quality
    failed = set(quality[~quality.passed].check_name)
    assert set(RISK) <= failed


@pytest.mark.parametrize("children", [0, 4])
def test_a_warehouse_with_too_few_children_releases_what_it_can(setting, children):
    """A new install (no child assessed yet) or a handful of children: the release is made, its risk measured and
    kept; the utility is left unmeasured (its checks, which warn, say so), not an error."""
    real, config = setting
    made = build.synthesise_children(real.head(children), config)
    quality = made.quality
    assert len(made.children) <= children and list(made.children.columns) == ["synthetic_id", *config.columns]
    assert set(quality.check_name) == set(RISK) and quality.passed.all(), quality
