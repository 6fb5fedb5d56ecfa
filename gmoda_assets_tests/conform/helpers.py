"""Helpers shared by the conformed layer's tests."""


def failure_message(result) -> str:
    """The messages of a run's failed steps, as the UI shows them."""
    return "\n".join(e.step_failure_data.user_failure_data.description if e.step_failure_data.user_failure_data
                     else e.step_failure_data.error.message for e in result.get_step_failure_events())


def asset_of(assets: list, table: str):
    """The asset among ``assets`` that builds ``table``."""
    return next(a for a in assets if a.key.path[-1] == table)
