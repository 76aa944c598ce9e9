from pathlib import Path

import pytest

from campaign_manager.core.config import DEFAULT_SECRET_KEY, ConfigError, load_settings

# A valid Fernet key, made for these tests only.
PRODUCTION_CREDENTIAL_KEY = "u7ldBa4Dc6Sy0n0a0xXV3d4yBq3oJ6Gr0bC3sQvY2kA="


def test_defaults_run_on_sqlite_in_the_instance_folder(tmp_path: Path):
    settings = load_settings(environ={}, overrides={"app": {"instance_path": str(tmp_path)}})
    assert settings.database_url == f"sqlite:///{tmp_path / 'campaign-manager.sqlite3'}"
    assert not settings.is_production
    assert settings.cookie_secure is False


def test_file_then_environment_override(tmp_path: Path):
    config = tmp_path / "cm.toml"
    config.write_text('[database]\nurl = "sqlite:///from-file.db"\n[server]\nport = 8000\n')
    settings = load_settings(config, environ={"CAMPAIGN_MANAGER_SERVER_PORT": "9000"})
    assert settings.database.url == "sqlite:///from-file.db"
    assert settings.server.port == 9000
    assert settings.source == str(config)


def test_config_path_from_environment(tmp_path: Path):
    config = tmp_path / "cm.toml"
    config.write_text('[app]\norganization_name = "Test Coalition"\n')
    settings = load_settings(environ={"CAMPAIGN_MANAGER_CONFIG": str(config)})
    assert settings.app.organization_name == "Test Coalition"


def test_unknown_key_in_file_names_file_section_and_key(tmp_path: Path):
    config = tmp_path / "cm.toml"
    config.write_text('[database]\nulr = "x"\n')
    with pytest.raises(ConfigError) as error:
        load_settings(config, environ={})
    message = str(error.value)
    assert str(config) in message and "ulr" in message and "[database]" in message
    assert "url" in message  # the known keys are listed


def test_unknown_section(tmp_path: Path):
    config = tmp_path / "cm.toml"
    config.write_text("[databse]\nurl = 'x'\n")
    with pytest.raises(ConfigError, match=r"unknown section \[databse\]"):
        load_settings(config, environ={})


def test_bad_value_type_says_what_was_expected(tmp_path: Path):
    config = tmp_path / "cm.toml"
    config.write_text('[server]\nport = "eighty"\n')
    with pytest.raises(
        ConfigError, match=r"\[server\] port: expected a whole number, got 'eighty'"
    ):
        load_settings(config, environ={})


def test_unknown_environment_key_is_an_error():
    with pytest.raises(ConfigError, match="CAMPAIGN_MANAGER_SERVER_PROT"):
        load_settings(environ={"CAMPAIGN_MANAGER_SERVER_PROT": "1"})


def test_boolean_from_environment():
    settings = load_settings(environ={"CAMPAIGN_MANAGER_DATABASE_ECHO": "yes"})
    assert settings.database.echo is True
    with pytest.raises(ConfigError, match="expected true or false"):
        load_settings(environ={"CAMPAIGN_MANAGER_DATABASE_ECHO": "maybe"})


def test_invalid_toml_is_reported_with_the_file(tmp_path: Path):
    config = tmp_path / "cm.toml"
    config.write_text("[app\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config, environ={})


def test_missing_config_file():
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings("/nonexistent/cm.toml", environ={})


def test_production_refuses_the_default_secret_key():
    with pytest.raises(ConfigError) as error:
        load_settings(environ={"CAMPAIGN_MANAGER_ENV": "production"})
    assert "CAMPAIGN_MANAGER_APP_SECRET_KEY" in str(error.value)
    assert DEFAULT_SECRET_KEY not in str(error.value)


def test_production_with_a_real_key_uses_secure_cookies():
    settings = load_settings(
        environ={
            "CAMPAIGN_MANAGER_ENV": "production",
            "CAMPAIGN_MANAGER_APP_SECRET_KEY": "x" * 40,
            "CAMPAIGN_MANAGER_SECURITY_CREDENTIAL_KEYS": PRODUCTION_CREDENTIAL_KEY,
            "CAMPAIGN_MANAGER_APP_BASE_URL": "https://careers.example.org",
        }
    )
    assert settings.is_production and settings.cookie_secure


def test_production_needs_an_https_base_url():
    with pytest.raises(ConfigError, match="base_url must be https"):
        load_settings(
            environ={
                "CAMPAIGN_MANAGER_ENV": "production",
                "CAMPAIGN_MANAGER_APP_SECRET_KEY": "x" * 40,
                "CAMPAIGN_MANAGER_SECURITY_CREDENTIAL_KEYS": PRODUCTION_CREDENTIAL_KEY,
            }
        )


def test_production_refuses_to_start_without_credential_keys():
    with pytest.raises(ConfigError) as error:
        load_settings(
            environ={
                "CAMPAIGN_MANAGER_ENV": "production",
                "CAMPAIGN_MANAGER_APP_SECRET_KEY": "x" * 40,
            }
        )
    message = str(error.value)
    assert "CAMPAIGN_MANAGER_SECURITY_CREDENTIAL_KEYS" in message
    assert "campaign-manager keys generate" in message


def test_credential_keys_from_the_environment_are_a_list():
    settings = load_settings(
        environ={"CAMPAIGN_MANAGER_SECURITY_CREDENTIAL_KEYS": "new-key, old-key"}
    )
    assert settings.security.credential_keys == ["new-key", "old-key"]


def test_unknown_env_mode():
    with pytest.raises(ConfigError, match="'development' or 'production'"):
        load_settings(environ={"CAMPAIGN_MANAGER_ENV": "staging"})


def test_example_config_documents_every_key():
    """config.example.toml must load and mention every key the settings know."""
    import dataclasses

    from campaign_manager.core.config import Settings, section_names

    example = Path(__file__).parents[2] / "config.example.toml"
    text = example.read_text()
    load_settings(example, environ={})
    defaults = Settings()
    for section in section_names():
        assert f"[{section}]" in text, f"[{section}] is not documented"
        for key in dataclasses.fields(getattr(defaults, section)):
            assert f"{key.name} =" in text, f"[{section}] {key.name} is not documented"
