"""The synthesis configuration is validated when read: a mistake names the file and the field."""

import pytest
import yaml

from gmoda_assets.synthetic.config import CONFIG_FILE, SyntheticConfigError, synthetic_config


def _written(tmp_path, change) -> object:
    document = yaml.safe_load(CONFIG_FILE.read_text())
    change(document)
    path = tmp_path / "synthetic.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_the_shipped_configuration_reads():
    config = synthetic_config()
    assert config.columns[0] == config.by and config.outcome == "gld"
    assert set(config.quasi_identifiers) <= set(config.columns)


@pytest.mark.parametrize("change, named", [
    (lambda d: d["variables"].insert(1, {"name": "x", "kind": "number"}), "variables.1: a number has a precision"),
    (lambda d: d["risk"].update(tcap_excess_max=2), "risk.tcap_excess_max"),
    (lambda d: d.update(sensitive=["religion"]), "not synthesised: religion"),
    (lambda d: d["utility"].update(pmse_max=3), "utility.pmse_max: Extra inputs are not permitted"),
])
def test_a_mistake_names_the_file_and_field(tmp_path, change, named):
    path = _written(tmp_path, change)
    with pytest.raises(SyntheticConfigError, match=str(path)) as raised:
        synthetic_config(path)
    assert named in str(raised.value)
