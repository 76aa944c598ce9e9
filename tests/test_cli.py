import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from campaign_manager.cli import cli
from campaign_manager.core.accounts import Role, User


def test_user_create_reads_the_password_from_stdin(runner, app, db):
    result = runner.invoke(
        ["user", "create", "Cli.User@Example.org", "--role", "approver", "--password-stdin"],
        input="a-long-password\n",
    )
    assert result.exit_code == 0, result.output
    assert "Created approver Cli.User@example.org" in result.output
    user = db.scalar(select(User).where(User.email == "Cli.User@example.org"))
    assert user.role is Role.APPROVER
    app.test_client().login("cli.user@example.org", "a-long-password")


def test_user_create_prompts_twice_for_the_password(runner, db):
    result = runner.invoke(
        ["user", "create", "p@example.org", "--role", "viewer"],
        input="a-long-password\na-long-password\n",
    )
    assert result.exit_code == 0, result.output
    assert db.scalar(select(User).where(User.email == "p@example.org"))


def test_wrong_role_lists_the_valid_roles(runner, db):
    result = runner.invoke(
        ["user", "create", "x@example.org", "--role", "owner", "--password-stdin"], input="pw"
    )
    assert result.exit_code == 2
    assert "valid roles are: admin, marketer, approver, viewer, vendor" in result.output
    assert db.scalar(select(User)) is None


def test_vendor_user_needs_an_existing_vendor(runner, db):
    result = runner.invoke(
        [
            "user",
            "create",
            "v@example.org",
            "--role",
            "vendor",
            "--vendor",
            "Nobody Inc",
            "--password-stdin",
        ],
        input="a-long-password\n",
    )
    assert result.exit_code == 1
    assert "no vendor company named 'Nobody Inc'" in result.output


def test_short_password_is_refused(runner, db):
    result = runner.invoke(
        ["user", "create", "s@example.org", "--role", "viewer", "--password-stdin"], input="short\n"
    )
    assert result.exit_code == 1 and "at least 10 characters" in result.output


def test_db_upgrade_is_idempotent(runner):
    result = runner.invoke(["db", "upgrade"])
    assert result.exit_code == 0 and "up to date" in result.output


def test_demo_load_only_creates_a_fresh_instance_whose_logins_work(tmp_path: Path, monkeypatch):
    from campaign_manager.app import create_app
    from campaign_manager.core.config import load_settings

    monkeypatch.delenv("CAMPAIGN_MANAGER_DATABASE_URL", raising=False)
    instance = tmp_path / "demo"
    for _ in range(2):  # a second run starts afresh instead of failing on existing data
        result = CliRunner().invoke(cli, ["demo", "--instance", str(instance), "--load-only"])
        assert result.exit_code == 0, result.output
    assert "password: demo-password" in result.output
    emails = [line.split()[1] for line in result.output.splitlines() if line.startswith("  ")]
    assert [e.split("@")[0] for e in emails] == [r.value for r in Role]
    app = create_app(load_settings(instance / "config.toml", environ={}))
    app.config["TESTING"] = True
    from tests.conftest import Client

    app.test_client_class = Client
    for email in emails:
        client = app.test_client()
        client.login(email, "demo-password")
        assert client.get("/", follow_redirects=True).status_code == 200


def test_demo_refuses_a_folder_it_did_not_make(tmp_path: Path):
    (tmp_path / "precious.txt").write_text("keep me")
    result = CliRunner().invoke(cli, ["demo", "--instance", str(tmp_path), "--load-only"])
    assert result.exit_code == 1 and "not a demo instance" in result.output
    assert (tmp_path / "precious.txt").exists()


def test_bad_config_stops_with_file_and_key(tmp_path: Path):
    config = tmp_path / "bad.toml"
    config.write_text("[server]\nprot = 1\n")
    result = CliRunner().invoke(cli, ["--config", str(config), "db", "upgrade"])
    assert result.exit_code == 1
    assert str(config) in result.output and "unknown key 'prot'" in result.output


def test_console_script_is_installed():
    result = subprocess.run(
        [sys.executable, "-m", "campaign_manager", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    for command in ("serve", "scheduler", "worker", "db", "user", "demo"):
        assert command in result.stdout
