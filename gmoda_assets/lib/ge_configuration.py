"""Great Expectations' expectation kwargs read from one configuration per lookup, not one per key.

To build a validation's metric graph, GE asks each expectation for its domain, success and runtime kwargs
(hundreds of times a validation: once for every metric it depends on, through a new copy of the expectation each
time), and each of those lookups builds the expectation's ``configuration`` again for every key it reads: a
pydantic ``dict()`` of the expectation, its type name worked out again from its class name by two regular
expressions, and a new ``ExpectationConfiguration``: 45,000 of them for a month of small drops' raw validations,
a third of their Python.

Importing this module makes a lookup build the configuration once, for all the keys it reads: while one of
GE's kwargs lookups runs on a thread, ``Expectation.configuration`` gives each expectation the configuration it
built first. A lookup only reads the expectation, so that configuration is the one GE would build again; the
verdicts, counts and samples are GE's (``bench/raw_validation.py`` prints an md5 of every check's metadata). The
type name is remembered by class name. ``lib/quality`` imports it when it validates, as it does ``ge_metrics``;
it names GE's methods, which a minor release may change, so ``pyproject.toml`` pins GE's minor series (1.24);
``gmoda_assets_tests/lib/test_quality.py`` checks the kwargs against GE's own and the configurations built.
"""

from __future__ import annotations

import functools
import threading

from great_expectations import util
from great_expectations.expectations import expectation as _module

Expectation = _module.Expectation
_built = Expectation.configuration.fget  # GE's: a new configuration each time
_LOOKUPS = ("_get_runtime_kwargs", "_get_success_kwargs", "_get_domain_kwargs", "_get_success_kwarg",
            "_get_result_format")
_looking_up = threading.local()  # .configurations: id -> (expectation, its configuration), while a lookup runs


def _configuration(self):
    configurations = getattr(_looking_up, "configurations", None)
    if configurations is None:
        return _built(self)
    if (held := configurations.get(id(self))) is None:  # held with the expectation, so its id is not reused
        held = configurations[id(self)] = (self, _built(self))
    return held[1]


def _one_configuration(lookup):
    @functools.wraps(lookup)
    def looking_up(self, *args, **kwargs):
        if getattr(_looking_up, "configurations", None) is not None:  # within another lookup
            return lookup(self, *args, **kwargs)
        _looking_up.configurations = {}
        try:
            return lookup(self, *args, **kwargs)
        finally:
            _looking_up.configurations = None

    return looking_up


_module.camel_to_snake = functools.cache(util.camel_to_snake)
Expectation.configuration = property(_configuration)
for _name in _LOOKUPS:
    setattr(Expectation, _name, _one_configuration(getattr(Expectation, _name)))
