"""compose.yaml cannot run here (no Docker engine): check it parses and stays in step with the
CLI and the settings the README documents."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from invorder.cli import main
from invorder.settings import Settings, env_name

ROOT = Path(__file__).resolve().parents[2]


def test_compose_parses_and_its_commands_and_settings_exist() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "api", "worker", "payments-sim"} <= set(services)
    known = {env_name(f) for f in Settings.__struct_fields__}
    readme = (ROOT / "README.md").read_text()
    runner = CliRunner()
    for name, service in services.items():
        if service.get("image") != "invorder:dev":
            continue
        for variable in service.get("environment", {}):
            assert variable in known, f"{name}: {variable} is not a setting"
            assert variable in readme, f"{variable} is not documented in the README"
        command = service["command"]
        result = runner.invoke(main, [*command, "--help"])
        assert result.exit_code == 0, f"{name}: invorder {' '.join(command)} --help failed: {result.output}"
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert all("healthcheck" in services[s] for s in ("postgres", "redis", "api", "payments-sim"))


def test_every_setting_is_in_the_readme_and_env_example() -> None:
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / ".env.example").read_text()
    for field in Settings.__struct_fields__:
        name = env_name(field)
        assert f"`{name}`" in readme, f"{name} is not in the README"
        assert name in example, f"{name} is not in .env.example"


def test_compose_dependencies_point_at_services_that_can_satisfy_them() -> None:
    """The lint a `docker compose config` would do, plus what compose only finds out at run time."""
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    published: list[str] = []
    for name, service in services.items():
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on unknown service {target}"
            condition = rule.get("condition")
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target} to be healthy; it has no check"
            if condition == "service_completed_successfully":
                assert services[target].get("restart") == "no", f"{target} is one-shot and must not restart"
        published += [str(p).split(":")[0] for p in service.get("ports", [])]
    assert len(published) == len(set(published)), f"a host port is published twice: {published}"
    assert services["migrate"]["command"] == ["migrate", "up"]
    assert {"api", "worker"} <= {n for n, s in services.items() if "migrate" in (s.get("depends_on") or {})}
