from alembic import context

from campaign_manager.core.crypto import EncryptedJSON
from campaign_manager.core.db import StrEnumType, UTCDateTime
from campaign_manager.models import metadata

config = context.config
engine = config.attributes["engine"]


def render_item(type_, obj, autogen_context):
    """Write our column types as the plain types they store, so migrations never import models."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, StrEnumType):
        return f"sa.String(length={obj.impl.length})"
    if type_ == "type" and isinstance(obj, EncryptedJSON):
        return "sa.Text()"
    return False


def include_name(name, type_, parent_names):
    # APScheduler's job store creates and owns its table.
    return not (type_ == "table" and name and name.startswith("apscheduler_"))


with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
        include_name=include_name,
        compare_type=False,
    )
    context.run_migrations()
