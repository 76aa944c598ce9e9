"""Settings: read once from a TOML file, then overridden by environment variables.

Every key lives in one of the section dataclasses below; `config.example.toml` documents
them all. An environment variable `CAMPAIGN_MANAGER_<SECTION>_<KEY>` overrides a key, so
`CAMPAIGN_MANAGER_DATABASE_URL` sets `[database] url`. A key nobody knows, or a value of
the wrong type, stops start-up with a `ConfigError` naming the file, the key and the reason.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "CAMPAIGN_MANAGER_"
# The built-in key is only good for trying the app out; production refuses it.
DEFAULT_SECRET_KEY = "insecure-development-key-change-me"  # noqa: S105 - refused in production


class ConfigError(Exception):
    """A configuration problem the operator must fix before the app can start."""


@dataclass
class AppSettings:
    # "development" or "production"; CAMPAIGN_MANAGER_ENV sets it too.
    env: str = "development"
    secret_key: str = DEFAULT_SECRET_KEY
    # Where the SQLite database, uploaded files and generated PDFs live.
    instance_path: str = "instance"
    # The public address of the app, used in links inside emails and PDFs.
    base_url: str = "http://127.0.0.1:5000"
    organization_name: str = "Collision Careers Coalition"
    # Printed in every email footer (CAN-SPAM asks for a valid postal address).
    postal_address: str = ""
    log_level: str = "INFO"


@dataclass
class DatabaseSettings:
    # Empty means SQLite at <instance_path>/campaign-manager.sqlite3.
    url: str = ""
    echo: bool = False
    pool_size: int = 5


@dataclass
class SecuritySettings:
    # None means: secure cookies in production, plain ones in development (no TLS there).
    session_cookie_secure: bool | None = None
    session_lifetime_hours: int = 12
    # Failed sign-ins before the delay starts, and before the account locks.
    login_slowdown_after: int = 3
    login_lockout_after: int = 6
    login_lockout_minutes: int = 15
    # Fernet keys that encrypt channel credentials at rest, newest first: new values are
    # encrypted with the first, older ones still decrypt. Empty: development derives one
    # from the secret key; production refuses to start.
    credential_keys: list[str] = field(default_factory=list)


@dataclass
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 5000
    threads: int = 8
    # How long the dashboard, a running campaign's progress and the segment builder's live
    # count reuse what they counted (shown with its time); 0 counts on every request.
    counts_max_age_seconds: float = 5.0


@dataclass
class DeliverySettings:
    # No email or social mention between these local times of the recipient (HH:MM).
    quiet_hours_start: str = "21:00"
    quiet_hours_end: str = "08:00"
    # At most this many messages per contact per rolling 7 days, across all campaigns;
    # a campaign may set its own lower or higher cap. 0 turns the cap off.
    frequency_cap_per_7_days: int = 3
    max_attempts: int = 6
    retry_base_seconds: float = 30.0
    # Deliveries a worker claims at once, and how long it may hold them.
    batch_size: int = 50
    lease_seconds: float = 300.0
    # Timezone for contacts whose own timezone is unknown.
    default_timezone: str = "America/New_York"


@dataclass
class SchedulerSettings:
    # How late a due step may still run (after downtime); later ones are run at once by
    # the reconciliation, never silently dropped.
    misfire_grace_seconds: int = 3600
    # How often the scheduler re-reads the steps table (approvals, edits, pauses).
    reconcile_seconds: float = 5.0
    # Worker threads of `campaign-manager serve` (embedded mode).
    embedded_workers: int = 1


@dataclass
class WebhookSettings:
    # Outgoing webhooks (Settings → Webhooks). Seconds to wait for a receiver's answer;
    # no answer in time counts as a failed attempt.
    timeout_seconds: float = 10.0
    # Attempts per event before it is marked failed, and the first retry's delay in seconds
    # (doubling each time, with jitter; a receiver's Retry-After is honoured).
    max_attempts: int = 8
    retry_base_seconds: float = 60.0
    # A subscription whose deliveries fail this many times in a row (each after all its
    # attempts) is turned off and shown as needing a person. 0 never turns one off.
    disable_after_failures: int = 5
    # Webhook deliveries a worker claims at once.
    batch_size: int = 20
    # Finished deliveries (delivered or failed) older than this many days are deleted from
    # the delivery log, so it does not grow forever. 0 keeps them all.
    keep_deliveries_days: int = 30


@dataclass
class AssetSettings:
    # Largest image and PDF accepted by the asset library, in megabytes.
    max_image_mb: float = 25.0
    max_pdf_mb: float = 100.0
    # Decompression-bomb guard: images with more pixels are refused before decoding.
    # Pillow's own default; a 24x36 in poster at 300 ppi (77.8 million pixels) fits.
    max_image_pixels: int = 89_478_485
    # Longest side of the library's thumbnails, in pixels.
    thumbnail_px: int = 480


@dataclass
class ApiSettings:
    # Requests each API token may make per window; more get 429 with Retry-After.
    rate_limit_requests: int = 600
    rate_limit_window_seconds: int = 60
    # Items per page of a list when the client asks for none, and the most it may ask for.
    default_page_size: int = 50
    max_page_size: int = 500


@dataclass
class Settings:
    app: AppSettings = field(default_factory=AppSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    assets: AssetSettings = field(default_factory=AssetSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    # Where the settings came from, for error messages and `campaign-manager config`.
    source: str = "built-in defaults"

    @property
    def is_production(self) -> bool:
        return self.app.env == "production"

    @property
    def instance_dir(self) -> Path:
        return Path(self.app.instance_path).resolve()

    @property
    def files_dir(self) -> Path:
        """Content-addressed uploaded and generated files (core/storage.py)."""
        return self.instance_dir / "files"

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{self.instance_dir / 'campaign-manager.sqlite3'}"

    @property
    def cookie_secure(self) -> bool:
        if self.security.session_cookie_secure is None:
            return self.is_production
        return self.security.session_cookie_secure


def section_names() -> list[str]:
    return [f.name for f in dataclasses.fields(Settings) if f.name != "source"]


def _section_class(name: str) -> type:
    hints = typing.get_type_hints(Settings)
    return hints[name]


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Turn a TOML or environment value into the annotated type, or explain why not."""
    allowed = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else ()
    if allowed and type(None) in allowed:
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "auto")):
            return None
        annotation = next(a for a in allowed if a is not type(None))
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a whole number, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a whole number, got {value!r}") from None
    if annotation is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if typing.get_origin(annotation) is list:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        if isinstance(value, list):
            return [str(item) for item in value]
        raise ConfigError(f"{where}: expected a list, got {value!r}")
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected text, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported setting type {annotation!r}")


def _apply(settings: Settings, overrides: Mapping[str, Any], origin: str) -> None:
    for section_name, values in overrides.items():
        if section_name not in section_names():
            raise ConfigError(
                f"{origin}: unknown section [{section_name}]; "
                f"known sections: {', '.join(section_names())}"
            )
        if not isinstance(values, Mapping):
            raise ConfigError(f"{origin}: [{section_name}] must be a table of keys")
        section = getattr(settings, section_name)
        hints = typing.get_type_hints(type(section))
        for key, raw in values.items():
            if key not in hints:
                raise ConfigError(
                    f"{origin}: unknown key '{key}' in [{section_name}]; "
                    f"known keys: {', '.join(hints)}"
                )
            setattr(section, key, _coerce(raw, hints[key], f"{origin}: [{section_name}] {key}"))


def _env_overrides(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    overrides: dict[str, dict[str, str]] = {}
    # Longest section names first, so a section called "a_b" would win over "a".
    sections = sorted(section_names(), key=len, reverse=True)
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        if rest == "env":
            overrides.setdefault("app", {})["env"] = value
            continue
        for section in sections:
            if rest.startswith(section + "_"):
                key = rest[len(section) + 1 :]
                hints = typing.get_type_hints(_section_class(section))
                if key not in hints:
                    raise ConfigError(
                        f"environment variable {name}: unknown key '{key}' in [{section}]; "
                        f"known keys: {', '.join(hints)}"
                    )
                overrides.setdefault(section, {})[key] = value
                break
        # Anything else under the prefix (CONFIG, TEST_DATABASE_URL, ...) is not a setting.
    return overrides


def load_settings(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings: defaults, then the TOML file, then the environment, then overrides.

    `path` defaults to $CAMPAIGN_MANAGER_CONFIG; with neither, only defaults and environment.
    """
    environ = os.environ if environ is None else environ
    settings = Settings()
    path = path or environ.get(ENV_PREFIX + "CONFIG")
    if path:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(
                f"config file {file} does not exist (from --config or $CAMPAIGN_MANAGER_CONFIG)"
            )
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from None
        _apply(settings, data, str(file))
        settings.source = str(file)
    _apply(settings, _env_overrides(environ), "environment")
    if overrides:
        _apply(settings, overrides, "overrides")
    validate_settings(settings)
    return settings


def validate_settings(settings: Settings) -> None:
    if settings.app.env not in ("development", "production"):
        raise ConfigError(
            f"{settings.source}: [app] env must be 'development' or 'production', "
            f"got {settings.app.env!r}"
        )
    if settings.is_production and settings.app.secret_key == DEFAULT_SECRET_KEY:
        raise ConfigError(
            "Refusing to start in production with the built-in secret key. Set a long random "
            "value in the environment variable CAMPAIGN_MANAGER_APP_SECRET_KEY (or secret_key "
            "under [app] in your config file), for example the output of: "
            'python -c "import secrets; print(secrets.token_urlsafe(48))"'
        )
    if settings.is_production and not settings.security.credential_keys:
        raise ConfigError(
            "Refusing to start in production without credential encryption keys. Generate one "
            'with `campaign-manager keys generate` (or: python -c "from cryptography.fernet '
            'import Fernet; print(Fernet.generate_key().decode())") and set it in the '
            "environment variable CAMPAIGN_MANAGER_SECURITY_CREDENTIAL_KEYS (or credential_keys "
            "under [security] in your config file)."
        )
    if len(settings.app.secret_key) < 16:
        raise ConfigError(f"{settings.source}: [app] secret_key must be at least 16 characters")
    if settings.security.login_lockout_after <= settings.security.login_slowdown_after:
        raise ConfigError(
            f"{settings.source}: [security] login_lockout_after must be greater than "
            "login_slowdown_after"
        )
    for key in ("quiet_hours_start", "quiet_hours_end"):
        value = getattr(settings.delivery, key)
        if not _is_clock_time(value):
            raise ConfigError(f"{settings.source}: [delivery] {key} must be HH:MM, got {value!r}")
    if not _is_timezone(settings.delivery.default_timezone):
        raise ConfigError(
            f"{settings.source}: [delivery] default_timezone {settings.delivery.default_timezone!r}"
            " is not an IANA timezone such as America/New_York"
        )
    if settings.assets.max_image_mb <= 0 or settings.assets.max_pdf_mb <= 0:
        raise ConfigError(f"{settings.source}: [assets] size limits must be above 0")
    if settings.assets.max_image_pixels < 1_000_000:
        raise ConfigError(f"{settings.source}: [assets] max_image_pixels must be at least 1000000")
    api = settings.api
    if api.rate_limit_requests < 1 or api.rate_limit_window_seconds < 1:
        raise ConfigError(
            f"{settings.source}: [api] rate_limit_requests and rate_limit_window_seconds "
            "must be at least 1"
        )
    if not 1 <= api.default_page_size <= api.max_page_size:
        raise ConfigError(
            f"{settings.source}: [api] default_page_size must be between 1 and max_page_size"
        )
    if settings.is_production and not settings.app.base_url.startswith("https://"):
        raise ConfigError(
            f"{settings.source}: [app] base_url must be https:// in production: unsubscribe "
            "links (RFC 8058) and session cookies need TLS"
        )
    if not settings.app.base_url.startswith(("http://", "https://")):
        raise ConfigError(f"{settings.source}: [app] base_url must start with http:// or https://")


def _is_clock_time(value: str) -> bool:
    hours, _, minutes = value.partition(":")
    return hours.isdigit() and minutes.isdigit() and 0 <= int(hours) < 24 and 0 <= int(minutes) < 60


def _is_timezone(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
