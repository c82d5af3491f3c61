"""deploy/ (issue 20 item 4): the compose file parses, runs what the README says it runs, and the systemd units
restart web and worker independently."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _readme_services() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    operations = text.split("## Operations", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"^\| `([a-z]+)` \| (.+?) \|$", operations, flags=re.M))


def test_compose_services_are_those_the_readme_lists_and_each_does_what_it_says() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    services = compose["services"]
    readme = _readme_services()
    assert set(services) == set(readme) == {"db", "migrate", "web", "worker"}
    assert services["db"]["image"].startswith("postgres:")
    assert "pgdata:/var/lib/postgresql/data" in services["db"]["volumes"]
    assert services["worker"]["command"] == ["python", "manage.py", "run_worker"]
    assert "migrate" in " ".join(services["migrate"]["command"])
    for name in ("web", "worker", "migrate"):
        service = services[name]
        assert service["environment"]["DATABASE_URL"].startswith("postgres://"), name
        assert service["environment"]["CIRCLEKEEPER_MASTER_KEY_FILE"].startswith("/run/secrets/"), name
        assert "var:/var/lib/circlekeeper" in service["volumes"], name
    # Web and worker restart on their own and neither waits for the other.
    for name in ("web", "worker"):
        assert services[name]["restart"] == "unless-stopped"
        assert set(services[name]["depends_on"]) == {"migrate"}
    assert set(compose["volumes"]) == {"pgdata", "var"}
    assert set(compose["secrets"]) == {"secret_key", "master_key", "backup_key"}
    assert (ROOT / "deploy" / "Dockerfile").read_text().count("USER circlekeeper") == 1


def test_the_systemd_units_restart_web_and_worker_independently_and_time_the_backup() -> None:
    units = {}
    for path in (ROOT / "deploy" / "systemd").iterdir():
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(path.read_text())
        units[path.name] = parser
    assert set(units) == {
        "circlekeeper-web.service",
        "circlekeeper-worker.service",
        "circlekeeper-backup.service",
        "circlekeeper-backup.timer",
    }
    for name in ("circlekeeper-web.service", "circlekeeper-worker.service"):
        assert units[name]["Service"]["Restart"] == "always", name
        assert "Requires" not in units[name]["Unit"] and "BindsTo" not in units[name]["Unit"], name
    assert "run_worker" in units["circlekeeper-worker.service"]["Service"]["ExecStart"]
    assert "manage.py backup" in units["circlekeeper-backup.service"]["Service"]["ExecStart"]
    assert units["circlekeeper-backup.timer"]["Timer"]["Persistent"] == "true"
