"""The `campaign-manager` command: a click group, one sub-group per area."""

from __future__ import annotations

import secrets
import shutil
import signal
import sys
import threading
from pathlib import Path

import click
from flask import Flask

from campaign_manager.core.config import ConfigError, Settings, load_settings

DEMO_MARKER = ".campaign-manager-demo"


class CliState:
    """Holds the --config path and builds the app on first use.

    Tests put a ready app in `app`, so commands run against the test database.
    """

    def __init__(self, config_path: str | None = None, app: Flask | None = None) -> None:
        self.config_path = config_path
        self.app = app

    def get_app(self, settings: Settings | None = None) -> Flask:
        if self.app is None:
            from campaign_manager.app import create_app

            try:
                self.app = create_app(settings or load_settings(self.config_path))
            except ConfigError as exc:
                raise click.ClickException(str(exc)) from None
        return self.app


pass_state = click.make_pass_decorator(CliState, ensure=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="CAMPAIGN_MANAGER_CONFIG",
    help="TOML config file (default: $CAMPAIGN_MANAGER_CONFIG, else built-in defaults).",
)
@click.version_option(package_name="campaign-manager")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """Campaign Manager: plan, approve, send and measure multi-channel campaigns."""
    if isinstance(ctx.obj, CliState):
        ctx.obj.config_path = config_path or ctx.obj.config_path
    elif isinstance(ctx.obj, Flask):
        ctx.obj = CliState(app=ctx.obj)
    else:
        ctx.obj = CliState(config_path)


def database_of(app: Flask):
    return app.extensions["database"]


def prepare_database(app: Flask, *, auto_upgrade_sqlite: bool) -> None:
    """Upgrade SQLite automatically; on other databases insist on `db upgrade` first."""
    from campaign_manager.migrations import pending_revisions, upgrade_database

    database = database_of(app)
    if database.is_sqlite and auto_upgrade_sqlite:
        upgrade_database(database.engine)
        return
    pending = pending_revisions(database.engine)
    if pending:
        raise click.ClickException(
            "The database schema is not up to date (missing "
            f"{', '.join(sorted(pending))}). Run: campaign-manager db upgrade"
        )


# --- serve, scheduler, worker -------------------------------------------------------------


@cli.command()
@click.option("--host", default=None, help="Interface to listen on (default from [server] host).")
@click.option("--port", type=int, default=None, help="Port (default from [server] port).")
@pass_state
def serve(state: CliState, host: str | None, port: int | None) -> None:
    """Run the web app (embedded mode: one process on one machine)."""
    app = state.get_app()
    prepare_database(app, auto_upgrade_sqlite=True)
    serve_with_engine(app, host, port)


def serve_with_engine(app: Flask, host: str | None, port: int | None) -> None:
    """The embedded single-machine mode: web app, scheduler and a worker in one process."""
    from schedulers.runner import EmbeddedEngine

    engine = EmbeddedEngine(database_of(app), app.extensions["settings"], renderer_factory(app))
    engine.start()
    try:
        run_server(app, host, port)
    finally:
        engine.shutdown()


def run_server(app: Flask, host: str | None, port: int | None) -> None:
    from waitress import serve as waitress_serve

    settings: Settings = app.extensions["settings"]
    host = host or settings.server.host
    port = port or settings.server.port
    click.echo(f"Campaign Manager is listening on http://{host}:{port}/  (Ctrl+C to stop)")
    waitress_serve(
        app, host=host, port=port, threads=settings.server.threads, ident="campaign-manager"
    )


def _stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and Ctrl+C ask the engine to finish its batch and stop."""

    def handle(signum, _frame) -> None:
        click.echo(f"Stopping ({signal.Signals(signum).name})...", err=True)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def renderer_factory(app: Flask):
    from schedulers.rendering import DeliveryRenderer

    settings = app.extensions["settings"]
    signer = app.extensions["token_signer"]
    return lambda: DeliveryRenderer(settings, signer)


@cli.command()
@pass_state
def scheduler(state: CliState) -> None:
    """Run the single scheduler process (APScheduler BlockingScheduler).

    Start exactly one; a second one waits for the first to stop instead of firing the
    same steps again.
    """
    from schedulers.runner import run_scheduler

    app = state.get_app()
    prepare_database(app, auto_upgrade_sqlite=True)
    stop = threading.Event()
    _stop_on_signals(stop)
    click.echo("Scheduler starting (Ctrl+C to stop).")
    run_scheduler(
        database_of(app), app.extensions["settings"], stop, blocking=True, on_wait=click.echo
    )


@cli.command()
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Worker threads in this process.",
)
@pass_state
def worker(state: CliState, concurrency: int) -> None:
    """Run delivery workers: claim due deliveries, send them, record the outcome."""
    from schedulers.runner import start_workers

    app = state.get_app()
    prepare_database(app, auto_upgrade_sqlite=True)
    stop = threading.Event()
    _stop_on_signals(stop)
    threads = start_workers(
        database_of(app), app.extensions["settings"], renderer_factory(app), concurrency, stop
    )
    click.echo(f"{concurrency} delivery worker(s) running (Ctrl+C to stop).")
    while not stop.wait(1):
        pass
    for thread in threads:
        thread.join(timeout=60)


# --- db -------------------------------------------------------------------------------------


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="heads", show_default=True)
@pass_state
def db_upgrade(state: CliState, revision: str) -> None:
    """Apply the schema migrations."""
    from campaign_manager.migrations import upgrade_database

    app = state.get_app()
    upgrade_database(database_of(app).engine, revision)
    click.echo("Database is up to date.")


# --- users ----------------------------------------------------------------------------------


@cli.group()
def user() -> None:
    """User accounts."""


@user.command("create")
@click.argument("email")
@click.option("--role", required=True, help="admin, marketer, approver, viewer or vendor.")
@click.option("--vendor", "vendor_name", help="Vendor company name (vendor role only).")
@click.option("--name", "display_name", default="", help="Display name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_state
def user_create(
    state: CliState,
    email: str,
    role: str,
    vendor_name: str | None,
    display_name: str,
    password_stdin: bool,
) -> None:
    """Create a user; prompts for the password unless --password-stdin."""
    from campaign_manager.core.accounts import (
        AccountError,
        create_user,
        find_vendor_by_name,
        parse_role,
    )

    try:
        parsed_role = parse_role(role)
    except AccountError as exc:
        raise click.BadParameter(str(exc), param_hint="--role") from None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    app = state.get_app()
    with database_of(app).transaction() as session:
        vendor = None
        if vendor_name:
            vendor = find_vendor_by_name(session, vendor_name)
            if vendor is None:
                raise click.ClickException(f"no vendor company named {vendor_name!r}")
        try:
            created = create_user(
                session, email, password, parsed_role, vendor=vendor, display_name=display_name
            )
        except AccountError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"Created {created.role.value} {created.email}.")


@cli.group("api-token")
def api_token() -> None:
    """Personal API tokens for the REST API (also in Settings → API tokens)."""


@api_token.command("create")
@click.option("--user", "email", required=True, help="The user the token acts as.")
@click.option("--name", default="created with the command line", show_default=True)
@click.option(
    "--expires-in-days",
    type=click.IntRange(1, 3650),
    default=None,
    help="Days until it stops working (default: never).",
)
@pass_state
def api_token_create(state: CliState, email: str, name: str, expires_in_days: int | None) -> None:
    """Create a token for a user and print it; it is shown this once only."""
    from campaign_manager.core.accounts import AccountError, find_user_by_email
    from campaign_manager.core.api_tokens import create_token

    app = state.get_app()
    with database_of(app).transaction() as session:
        user = find_user_by_email(session, email)
        if user is None:
            raise click.ClickException(f"no user with the email {email}")
        try:
            created = create_token(session, user, name, expires_in_days=expires_in_days)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from None
        expiry = created.token.expires_at
        click.echo(
            f"Token for {user.email} ({user.role.value}), "
            + (f"expires {expiry:%Y-%m-%d %H:%M} UTC" if expiry else "never expires")
            + ". Shown only now:",
            err=True,
        )
        click.echo(created.secret)


# --- keys -----------------------------------------------------------------------------------


@cli.group()
def keys() -> None:
    """Keys that encrypt channel credentials at rest ([security] credential_keys)."""


@keys.command("generate")
def keys_generate() -> None:
    """Print a new key, to put first in [security] credential_keys."""
    from campaign_manager.core.crypto import generate_key

    click.echo(generate_key())


@keys.command("rotate")
@pass_state
def keys_rotate(state: CliState) -> None:
    """Re-encrypt every stored credential under the newest (first) configured key."""
    from campaign_manager.channels.accounts import ChannelAccountError, rotate_credential_keys
    from campaign_manager.core.crypto import CredentialsUnreadable
    from campaign_manager.core.webhooks import rotate_webhook_secrets

    app = state.get_app()
    with database_of(app).transaction() as session:
        try:
            result = rotate_credential_keys(session)
            secrets = rotate_webhook_secrets(session)
        except (ChannelAccountError, CredentialsUnreadable) as exc:
            raise click.ClickException(f"{exc}. Nothing was changed.") from None
    click.echo(
        f"Re-encrypted the credentials of {result.reencrypted} of {result.accounts} channel "
        f"accounts and {secrets} webhook signing secret(s) under the newest key. Older keys "
        "can now be removed from [security] credential_keys."
    )


# --- contacts and segments ----------------------------------------------------------------


@cli.group()
def contacts() -> None:
    """Contacts: CSV import and export, rejects reports, erasure."""


def _parse_mapping(pairs: tuple[str, ...]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        column, sep, field = pair.rpartition("=")
        if not sep or not column:
            raise click.BadParameter(f"{pair!r} is not COLUMN=FIELD", param_hint="--mapping")
        mapping[column] = field.strip()
    return mapping


@contacts.command("import")
@click.argument(
    "file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--mapping",
    "-m",
    "mappings",
    multiple=True,
    metavar="COLUMN=FIELD",
    help="Map a column to a field (email, first_name, ..., attributes.NAME); COLUMN= skips "
    "it. Columns with recognisable names are mapped without this.",
)
@click.option("--update", is_flag=True, help="Update contacts already in the database.")
@click.option("--delimiter", type=click.Choice([",", ";", "tab"]), help="Default: detected.")
@click.option("--resume", "resume_id", type=int, help="Continue a stopped import by its number.")
@click.option("--batch-size", type=click.IntRange(1, 50_000), default=2000, show_default=True)
@pass_state
def contacts_import(
    state: CliState,
    file: Path | None,
    mappings: tuple[str, ...],
    update: bool,
    delimiter: str | None,
    resume_id: int | None,
    batch_size: int,
) -> None:
    """Import contacts from a CSV FILE and print: imported N, updated M, rejected K."""
    from audiences.contacts import AudienceError
    from audiences.importer import (
        ImportFileError,
        create_import_job,
        prepare_resume,
        queue_import,
        run_import,
    )
    from audiences.models import ImportJob, ImportStatus

    if (file is None) == (resume_id is None):
        raise click.UsageError("give either FILE or --resume ID")
    database = database_of(state.get_app())
    with database.transaction() as session:
        try:
            if resume_id is not None:
                job = session.get(ImportJob, resume_id)
                if job is None:
                    raise click.ClickException(f"there is no import #{resume_id}")
                prepare_resume(session, job)
                click.echo(f"Resuming import #{job.id} after row {job.rows_done}.")
            else:
                assert file is not None
                job, preview = create_import_job(
                    session,
                    file,
                    file.name,
                    delimiter={"tab": "\t"}.get(delimiter or "", delimiter),
                )
                queue_import(
                    session,
                    job,
                    {**preview.mapping, **_parse_mapping(mappings)},
                    update_existing=update,
                )
                for column, field in job.mapping.items():
                    click.echo(f"  {column} -> {field}")
        except ImportFileError as exc:
            raise click.ClickException(str(exc)) from None
        except AudienceError as exc:
            raise click.ClickException(str(exc)) from None
        job_id, total = job.id, job.total_bytes

    with click.progressbar(length=total, label=f"Import #{job_id}", file=sys.stderr) as bar:
        done = [0]

        def advance(progress) -> None:
            bar.update(progress.bytes_done - done[0])
            done[0] = progress.bytes_done

        finished = run_import(
            database.sessionmaker, job_id, batch_size=batch_size, progress=advance
        )
        bar.update(total - done[0])
    click.echo(
        f"imported {finished.imported}, updated {finished.updated}, rejected {finished.rejected}"
    )
    if finished.rejected:
        click.echo(f"Rejected rows: campaign-manager contacts rejects {job_id}")
    if finished.status is ImportStatus.FAILED:
        raise click.ClickException(
            f"{finished.error}\nResume with: campaign-manager contacts import --resume {job_id}"
        )


@contacts.command("rejects")
@click.argument("job_id", type=int)
@click.option("--output", "-o", type=click.File("w", encoding="utf-8"), default="-")
@pass_state
def contacts_rejects(state: CliState, job_id: int, output) -> None:
    """Write the rejects report of import JOB_ID as CSV: line, reason, the row."""
    from audiences.importer import rejects_csv
    from audiences.models import ImportJob

    with database_of(state.get_app()).transaction() as session:
        job = session.get(ImportJob, job_id)
        if job is None:
            raise click.ClickException(f"there is no import #{job_id}")
        for chunk in rejects_csv(session, job):
            output.write(chunk)


@contacts.command("export")
@click.option("--segment", "segment_name", help="Only this segment's members (name or slug).")
@click.option("--output", "-o", type=click.File("w", encoding="utf-8", lazy=True), default="-")
@pass_state
def contacts_export(state: CliState, segment_name: str | None, output) -> None:
    """Write contacts as CSV, in the import's column names."""
    from audiences.export import export_contacts_csv
    from audiences.segments import find_segment

    with database_of(state.get_app()).transaction() as session:
        segment = None
        if segment_name:
            segment = find_segment(session, segment_name)
            if segment is None:
                raise click.ClickException(f"there is no segment {segment_name!r}")
        for chunk in export_contacts_csv(session, segment):
            output.write(chunk)


@contacts.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def contacts_erase(state: CliState, email: str, yes: bool) -> None:
    """Erase a contact (privacy request); the address stays suppressed as a hash."""
    from audiences.contacts import find_contact_by_email
    from audiences.privacy import erase_contact

    with database_of(state.get_app()).transaction() as session:
        contact = find_contact_by_email(session, email)
        if contact is None:
            raise click.ClickException(f"there is no contact with the email {email}")
        if not yes:
            click.confirm(f"Erase {contact.name} <{contact.email}> for good?", abort=True)
        erase_contact(session, contact, source="erased on request (command line)")
        click.echo(f"Erased contact #{contact.id}; {contact.email} stays suppressed as a hash.")


@cli.group()
def segments() -> None:
    """Audience segments."""


@segments.command("count")
@click.argument("name")
@pass_state
def segments_count(state: CliState, name: str) -> None:
    """Count the members of segment NAME (its name or slug) now, and print the number."""
    from audiences.segments import SegmentRuleError, count_segment, find_segment

    with database_of(state.get_app()).transaction() as session:
        segment = find_segment(session, name)
        if segment is None:
            raise click.ClickException(f"there is no segment {name!r}")
        try:
            click.echo(count_segment(session, segment))
        except SegmentRuleError as exc:
            raise click.ClickException(f"{segment.name} cannot be counted: {exc}") from None


@segments.command("list")
@pass_state
def segments_list(state: CliState) -> None:
    """List segments with their slugs and last counts."""
    from sqlalchemy import select

    from audiences.models import Segment

    with database_of(state.get_app()).transaction() as session:
        for segment in session.scalars(select(Segment).order_by(Segment.name)):
            count = "?" if segment.cached_count is None else segment.cached_count
            click.echo(f"{segment.slug:<32} {count:>9}  {segment.name}")


# --- demo -----------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--instance",
    "instance_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-instance"),
    show_default=True,
    help="Folder for the demo's database and files; recreated on every run.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=5000, show_default=True)
@click.option("--load-only", is_flag=True, help="Load the demo data and exit without serving.")
@pass_state
def demo(state: CliState, instance_dir: Path, host: str, port: int, load_only: bool) -> None:
    """Create a fresh demo instance with the reference campaign, then serve it."""
    from campaign_manager.app import create_app
    from campaign_manager.demo import DEMO_PASSWORD, load_demo
    from campaign_manager.migrations import upgrade_database

    instance_dir = instance_dir.resolve()
    reset_demo_instance(instance_dir)
    config_file = instance_dir / "config.toml"
    config_file.write_text(
        "# Written by `campaign-manager demo`; reuse it with --config.\n"
        "[app]\n"
        f'instance_path = "{instance_dir.as_posix()}"\n'
        f'secret_key = "{secrets.token_urlsafe(48)}"\n'
        f'base_url = "http://{host}:{port}"\n'
        'postal_address = "Collision Careers Coalition, 1200 Main Street, Columbus, OH 43215"\n',
        encoding="utf-8",
    )
    try:
        # The demo always runs embedded: ignore a database URL from the environment.
        settings = load_settings(config_file, overrides={"database": {"url": ""}})
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    app = create_app(settings)
    state.app = app
    database = database_of(app)
    upgrade_database(database.engine)
    with database.transaction() as session:
        ctx = load_demo(session, settings)

    url = f"http://{host}:{port}/"
    click.echo(f"Demo instance ready in {instance_dir}")
    click.echo(f"Open {url} and sign in with one of these (password: {DEMO_PASSWORD}):")
    for role, email in ctx.logins:
        click.echo(f"  {role:<9} {email}")
    if not load_only:
        serve_with_engine(app, host, port)


def reset_demo_instance(instance_dir: Path) -> None:
    """Empty a previous demo folder; refuse to touch a folder the demo did not make."""
    marker = instance_dir / DEMO_MARKER
    if instance_dir.exists() and any(instance_dir.iterdir()):
        if not marker.exists():
            raise click.ClickException(
                f"{instance_dir} exists and is not a demo instance; choose another --instance."
            )
        shutil.rmtree(instance_dir)
    instance_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text("This folder is recreated by `campaign-manager demo`.\n", encoding="utf-8")


# --- creatives ------------------------------------------------------------------------------


@cli.group()
def creatives() -> None:
    """Creatives: print files and preflight."""


def _print_options(command):
    command = click.option(
        "--variant",
        "variants",
        multiple=True,
        metavar="KEY",
        help='Co-brand partner key (repeatable; "" for the plain piece). Default: every partner.',
    )(command)
    command = click.option(
        "--profile", default=None, help="Print profile key (default: the piece's own)."
    )(command)
    command = click.option(
        "--cmyk/--rgb", "cmyk", default=None, help="Colour mode (default: the profile's)."
    )(command)
    return command


@creatives.command("render-print")
@click.argument("creative_id", type=int)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@_print_options
@click.option("--crop-marks", is_flag=True, help="Draw crop marks outside the bleed.")
@click.option("--pdf-x", "pdf_variant", default=None, help="pdf/x-1a, pdf/x-3 or pdf/x-4.")
@pass_state
def creatives_render_print(
    state: CliState,
    creative_id: int,
    out: Path,
    variants: tuple[str, ...],
    profile: str | None,
    cmyk: bool | None,
    crop_marks: bool,
    pdf_variant: str | None,
) -> None:
    """Write the current version of a print creative to one PDF (a page per variant)."""
    from creatives.errors import CreativeError
    from creatives.printing import render_print_pdf
    from creatives.versions import get_creative

    app = state.get_app()
    with database_of(app).transaction() as session:
        try:
            version = get_creative(session, creative_id).current_version
            (pdf,) = render_print_pdf(
                session,
                version.id,
                profile=profile,
                variant_keys=list(variants) or None,
                crop_marks=crop_marks,
                pdf_variant=pdf_variant,
                cmyk=cmyk,
            )
        except CreativeError as exc:
            raise click.ClickException(str(exc)) from None
    out.write_bytes(pdf.data)
    pages = f"{pdf.pages} page{'s' if pdf.pages != 1 else ''}"
    click.echo(f"Wrote {out} ({pages}, version {version.number}, sha256 {pdf.sha256[:12]}).")


@creatives.command("preflight")
@click.argument("creative_id", type=int)
@_print_options
@pass_state
def creatives_preflight(
    state: CliState,
    creative_id: int,
    variants: tuple[str, ...],
    profile: str | None,
    cmyk: bool | None,
) -> None:
    """Check a print creative before it goes to a vendor; exits 1 when there are errors."""
    from creatives.errors import CreativeError, Severity
    from creatives.printing import preflight
    from creatives.versions import get_creative

    app = state.get_app()
    with database_of(app).transaction() as session:
        try:
            version = get_creative(session, creative_id).current_version
            problems = preflight(
                session, version.id, profile=profile, variant_keys=list(variants) or None, cmyk=cmyk
            )
        except CreativeError as exc:
            raise click.ClickException(str(exc)) from None
    for problem in problems:
        click.echo(f"{problem.severity.value:<7} {problem.area}: {problem.message}")
    if not problems:
        click.echo("No problems found.")
    if any(problem.severity is Severity.ERROR for problem in problems):
        sys.exit(1)


# --- bench ----------------------------------------------------------------------------------


@cli.command()
@click.argument("names", nargs=-1, metavar="[NAME ...]")
@click.option(
    "--scale",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Multiply the issue's real sizes by this (1 = real sizes). Default 0.05.",
)
@click.option(
    "--database-url",
    envvar="CAMPAIGN_MANAGER_BENCH_DATABASE_URL",
    help="A PostgreSQL server (URL of any database on it) to create the benchmark databases "
    "on; default $CAMPAIGN_MANAGER_BENCH_DATABASE_URL. segments, import, materialize and web "
    "need it.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the results to this JSON file.",
)
def bench(
    names: tuple[str, ...], scale: float | None, database_url: str | None, json_path: Path | None
) -> None:
    """Run the benchmarks NAME ... (default: all) and print a table of the results.

    NAME: email, segments, import, materialize, print, mjml, scheduler, web.

    Each prepares its own data in databases it creates and drops, and measures a baseline
    doing the same work in the same run. See docs/benchmarks.md.
    """
    import datetime
    import os
    import platform

    from campaign_manager.bench import DEFAULT_SCALE, NAMES, run_benchmarks
    from campaign_manager.bench.harness import markdown_table, write_json

    unknown = [name for name in names if name not in NAMES]
    if unknown:
        raise click.BadParameter(
            f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(NAMES)}",
            param_hint="NAME",
        )
    if database_url and not database_url.startswith("postgresql"):
        raise click.BadParameter(
            "give a PostgreSQL URL such as postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
            param_hint="--database-url",
        )
    scale = scale or DEFAULT_SCALE
    if not database_url:
        click.echo(
            "No PostgreSQL server given (--database-url or CAMPAIGN_MANAGER_BENCH_DATABASE_URL): "
            "the PostgreSQL-only benchmarks will be skipped; the others run on SQLite.",
            err=True,
        )
    started = datetime.datetime.now(datetime.UTC)
    rows, _ = run_benchmarks(names, scale=scale, postgres_server=database_url)
    click.echo(markdown_table(rows))
    if json_path:
        write_json(
            json_path,
            rows,
            {
                "started_at": started.isoformat(timespec="seconds"),
                "scale": scale,
                "postgresql": bool(database_url),
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "load_average_at_end": os.getloadavg(),
                "python": platform.python_version(),
            },
        )
    if any(row.failed for row in rows):
        sys.exit(1)


def main() -> None:
    cli(prog_name="campaign-manager")
