"""The Kubernetes deployment files: deploy/dagster.yaml is an instance configuration Dagster accepts, it matches
the Helm values, and the values give the code server (and so every run pod) each environment variable the
package reads. The variables are found in the code, so a new one without a value here fails this test."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import yaml

from gmoda_assets.lib.settings import PACKAGE_DIR

DEPLOY = PACKAGE_DIR.parent / "deploy"
# Dagster's chart sets DAGSTER_HOME in every container it makes (the instance ConfigMap is mounted there).
SET_BY_CHART = {"DAGSTER_HOME"}


def _environ_reads(tree: ast.Module, path: Path) -> set[str]:
    """Names read through os.environ.get / os.environ[...] / os.getenv / dagster.EnvVar in one module; a name
    given by a module-level constant is resolved, anything else fails (so no read goes unchecked)."""
    constants = {t.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
                 and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
                 for t in node.targets if isinstance(t, ast.Name)}
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args and (
                (node.func.attr == "get" and ast.unparse(node.func.value).endswith("environ"))
                or node.func.attr == "getenv") or (isinstance(node, ast.Call) and ast.unparse(node.func)
                                                   .endswith("EnvVar") and node.args):
            argument = node.args[0]
        elif (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load)
              and ast.unparse(node.value).endswith("environ")):
            argument = node.slice
        else:
            continue
        if isinstance(argument, ast.Constant):
            names.add(argument.value)
        elif isinstance(argument, ast.Name) and argument.id in constants:
            names.add(constants[argument.id])
        else:
            raise AssertionError(f"{path}:{node.lineno}: environment variable {ast.unparse(argument)} is not a "
                                 "literal or module constant; name it so the deployment test can see it")
    return names


def environment_read_by_code() -> set[str]:
    names = set()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        names |= _environ_reads(ast.parse(path.read_text(), str(path)), path)
    return names


def values() -> dict:
    return yaml.safe_load((DEPLOY / "values.yaml").read_text())


def test_code_reads_are_found():
    """The scan sees the reads it must (a scan that found nothing would pass the next test vacuously)."""
    found = environment_read_by_code()
    assert {"GMODA_DATABASE_URL", "GMODA_DAGSTER_DATABASE_URL", "GMODA_PSEUDONYMISATION_KEY",
            "GMODA_SETTLE_SECONDS", "GMODA_LANDING_DIR", "GMODA_QUARANTINE_DIR", "GMODA_TODAY",
            "GMODA_DRILL", "GMODA_TRUTH_DIR"} <= found


def test_values_supply_every_variable_the_code_reads():
    [deployment] = values()["dagster-user-deployments"]["deployments"]
    env = {e["name"]: e for e in deployment["env"]}
    assert deployment["includeConfigInLaunchedRuns"]["enabled"]  # run pods get the same environment
    missing = environment_read_by_code() - env.keys() - SET_BY_CHART
    assert not missing, f"deploy/values.yaml gives the code server no value for {sorted(missing)}"
    # Secrets only by reference to a Kubernetes secret, never as a value in the file.
    for name in ("GMODA_DATABASE_URL", "GMODA_DAGSTER_DATABASE_URL", "GMODA_DAGSTER_PG_URL",
                 "GMODA_PSEUDONYMISATION_KEY"):
        assert "value" not in env[name] and env[name]["valueFrom"]["secretKeyRef"]["name"], name
    # Production never moves the agreement clock.
    assert env["GMODA_TODAY"]["value"] == "" and env["GMODA_DRILL"]["value"] != "1"
    # Production has no simulated truth to read.
    assert env["GMODA_TRUTH_DIR"]["value"] == ""


def test_values_describe_the_platform():
    chart = values()
    [deployment] = chart["dagster-user-deployments"]["deployments"]
    assert deployment["codeServerArgs"] == ["--module-name", "gmoda_assets.definitions"]
    assert chart["runLauncher"]["type"] == "K8sRunLauncher"
    assert chart["postgresql"]["enabled"] is False and chart["generatePostgresqlPasswordSecret"] is False
    assert deployment["podSecurityContext"]["runAsNonRoot"]


def test_deploy_dagster_yaml_is_a_valid_instance_matching_the_values(tmp_path):
    from dagster._config import validate_config
    from dagster._core.instance.config import dagster_instance_config
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_postgres.utils import pg_config

    shutil.copy(DEPLOY / "dagster.yaml", tmp_path / "dagster.yaml")
    config, custom_class = dagster_instance_config(str(tmp_path))  # raises on any key or type Dagster refuses
    assert custom_class is None
    postgres = config["storage"]["postgres"]
    assert validate_config(pg_config(), postgres).success
    coordinator = config["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator"
    assert validate_config(QueuedRunCoordinator.config_type(), coordinator["config"]).success
    # (The same checks refuse a misspelt key, so passing them means something.)
    assert not validate_config(QueuedRunCoordinator.config_type(), {"max_concurent_runs": 4}).success
    assert not validate_config(pg_config(), {"postgres_db": {**postgres["postgres_db"], "passwrd": "x"}}).success
    assert (config["run_launcher"]["module"], config["run_launcher"]["class"]) == ("dagster_k8s", "K8sRunLauncher")
    # The same storage, queue and launcher as the chart renders from the values.
    chart = values()
    db = postgres["postgres_db"]
    assert (db["hostname"], db["port"], db["db_name"], db["username"]) == (
        chart["postgresql"]["postgresqlHost"], chart["postgresql"]["service"]["port"],
        chart["postgresql"]["postgresqlDatabase"], chart["postgresql"]["postgresqlUsername"])
    assert db["password"] == {"env": "DAGSTER_PG_PASSWORD"}  # the chart's variable, from its secret
    assert coordinator["config"]["max_concurrent_runs"] == (
        chart["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]["maxConcurrentRuns"])
    assert config["run_launcher"]["config"]["postgres_password_secret"] == chart["global"]["postgresqlSecretName"]


def test_dockerfile_installs_the_package_and_serves_it_unprivileged():
    lines = [line.strip() for line in (DEPLOY / "Dockerfile").read_text().splitlines()]
    assert any(line.startswith("RUN pip install . ") for line in lines)  # from pyproject, no test extras
    [user] = [line for line in lines if line.startswith("USER ")]
    assert user.split()[1] not in ("root", "0")
    [cmd] = [line for line in lines if line.startswith("CMD ")]
    assert '"code-server", "start"' in cmd and '"gmoda_assets.definitions"' in cmd
