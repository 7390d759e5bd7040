"""The example deployment in deploy/ holds together: every setting it names exists, every
command it runs parses, every health check it probes is a route, the example settings
start the app, and the units pass systemd's own check. (Docker is not needed: compose.yaml
is read as YAML.)"""

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import click
import pytest
import yaml

from fieldsvc import config, create_app
from tests.conftest import test_config as config_for

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("fieldsvc-*.service"))
ENV_FILES = [DEPLOY / "fieldsvc.env.example", DEPLOY / "owner.env.example"]
SETTING = re.compile(r"\bFIELDSVC_[A-Z0-9_]+\b")
# Read by the tests and `make` only, or by the tests' app: not for a production file.
NOT_FOR_PRODUCTION = {"FIELDSVC_JOBS_IMMEDIATE", "FIELDSVC_PORT", "FIELDSVC_HOST"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def cli_app(tmp_path_factory):
    """The app's command line, without a database (nothing here connects)."""
    folder = tmp_path_factory.mktemp("deploy")
    return create_app(config_for(f"sqlite:///{folder / 'unused.sqlite3'}"))


def _read_env(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip().removeprefix('"').removesuffix('"')
    return values


def _known_settings() -> set[str]:
    sources = [ROOT / "fieldsvc" / name for name in ("config.py", "installation.py")]
    sources.append(ROOT / "gunicorn.conf.py")
    return {name for source in sources for name in SETTING.findall(source.read_text())}


def _fieldsvc_commands(compose: dict) -> list[list[str]]:
    """The argument lists after `flask --app fieldsvc`, from compose and the units."""
    commands = [service.get("command") or [] for service in compose["services"].values()]
    for unit in UNITS:
        for line in unit.read_text().splitlines():
            if line.startswith("ExecStart="):
                commands.append(shlex.split(line.removeprefix("ExecStart=")))
    found = []
    for command in commands:
        if command and Path(command[0]).name == "flask":
            assert command[1:3] == ["--app", "fieldsvc"], command
            found.append(command[3:])
    return found


def test_every_setting_the_deployment_names_is_one_the_app_reads(compose):
    texts = [path.read_text() for path in [*ENV_FILES, *UNITS]]
    texts += [(DEPLOY / "compose.yaml").read_text(), (DEPLOY / "Dockerfile").read_text()]
    named = {name for text in texts for name in SETTING.findall(text)}

    assert named, "the deployment files name no setting"
    assert named - _known_settings() == set()


def test_the_settings_example_mentions_every_production_setting():
    example = (DEPLOY / "fieldsvc.env.example").read_text()
    listed = set(re.findall(r"^#? ?(FIELDSVC_[A-Z0-9_]+)=", example, re.MULTILINE))

    wanted = _known_settings() - NOT_FOR_PRODUCTION - {"FIELDSVC_MIGRATION_DATABASE_URL"}
    assert wanted - listed == set()
    # The owner's URL never reaches the app servers' file.
    assert "FIELDSVC_MIGRATION_DATABASE_URL" not in listed
    assert "FIELDSVC_MIGRATION_DATABASE_URL" in _read_env(DEPLOY / "owner.env.example")


def test_the_example_settings_start_the_app_in_production(monkeypatch, tmp_path):
    for name in _known_settings():
        monkeypatch.delenv(name, raising=False)
    for path in ENV_FILES:
        for name, value in _read_env(path).items():
            monkeypatch.setenv(name, value)

    settings = config.from_environment(str(tmp_path))
    config.check(settings)

    assert settings["ENV_NAME"] == "production"
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["TRUSTED_PROXIES"] == 1
    assert settings["MIGRATION_DATABASE_URI"].startswith("postgresql+psycopg://fieldsvc_owner:")
    assert settings["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://fieldsvc_app:")
    assert settings["APP_DATABASE_ROLE"] == "fieldsvc_app"
    assert settings["STORAGE"] == "s3" and settings["JOBS_REDIS_URL"].startswith("redis://")


def test_every_command_the_deployment_runs_parses(compose, cli_app):
    commands = _fieldsvc_commands(compose)

    assert ["db", "upgrade"] in commands
    assert ["jobs", "worker", "--periodic", "--workers", "1"] in commands
    assert ["audit", "verify"] in commands
    with cli_app.app_context():
        for group_name, command_name, *arguments in commands:
            group = cli_app.cli.get_command(click.Context(cli_app.cli), group_name)
            assert group is not None, group_name
            command = group.get_command(click.Context(group), command_name)
            assert command is not None, (group_name, command_name)
            # Parses the options and their values as the real run would, runs nothing.
            command.make_context(command_name, list(arguments))


def test_exactly_one_scheduler_and_workers_that_only_run_jobs(compose):
    services = compose["services"]
    periodic = [
        name
        for name, service in services.items()
        if "jobs" in (service.get("command") or []) and "--no-periodic" not in service["command"]
    ]

    assert periodic == ["scheduler"]
    assert services["scheduler"].get("deploy", {}).get("replicas", 1) == 1
    scheduler_units = [unit.name for unit in UNITS if "--periodic " in unit.read_text()]
    assert scheduler_units == ["fieldsvc-scheduler.service"]


def test_health_checks_probe_the_apps_health_routes(compose, cli_app):
    def probed(service: str) -> str:
        command = " ".join(compose["services"][service]["healthcheck"]["test"])
        return re.search(r"https?://[^/\s']+(/[a-z]+)", command)[1]

    adapter = cli_app.url_map.bind("localhost")

    # The app is ready for traffic; through the proxy, an app process is alive.
    assert probed("app") == "/readyz"
    assert probed("proxy") == "/healthz"
    assert adapter.match("/readyz")[0] == "ops.readyz"
    assert adapter.match("/healthz")[0] == "ops.healthz"


def test_migrations_run_once_as_the_owner_before_anything_starts(compose):
    services = compose["services"]

    assert services["migrate"]["command"][-2:] == ["db", "upgrade"]
    assert "owner.env" in services["migrate"]["env_file"]
    for name in ("app", "worker", "scheduler"):
        assert services[name]["env_file"] == ["fieldsvc.env"], name
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }


def test_the_proxy_sends_what_the_app_trusts_and_waits_longer_than_gunicorn():
    site = (DEPLOY / "nginx" / "fieldsvc.conf").read_text()
    headers = set(re.findall(r"proxy_set_header\s+(X-Forwarded-[A-Za-z]+)", site))
    read_timeout = int(re.search(r"proxy_read_timeout\s+(\d+)s;", site)[1])
    gunicorn_timeout = int(
        re.search(r"^timeout = (\d+)", (ROOT / "gunicorn.conf.py").read_text(), re.M)[1]
    )

    # ProxyFix with FIELDSVC_TRUSTED_PROXIES=1 reads these three.
    assert headers == {"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"}
    assert read_timeout > gunicorn_timeout
    assert re.search(r"client_max_body_size\s+100m;", site)  # FIELDSVC_MAX_REQUEST_MB
    assert re.search(r"listen 443 ssl\b", site) and "return 301 https://" in site


def test_the_units_pass_systemds_check(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed (Debian's systemd package)")
    # Installed as the units expect: /srv/fieldsvc is this checkout, with its .venv.
    for unit in [*UNITS, *(DEPLOY / "systemd").glob("*.timer")]:
        text = unit.read_text().replace("/srv/fieldsvc", str(ROOT))
        (tmp_path / unit.name).write_text(text)

    checked = subprocess.run(
        [analyze, "verify", *sorted(str(path) for path in tmp_path.iterdir())],
        capture_output=True,
        text=True,
    )

    assert checked.returncode == 0, checked.stderr
    assert checked.stderr == ""
