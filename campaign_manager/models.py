"""Imports every model module so that `Base.metadata` knows all tables.

Alembic's env.py and the test fixtures import this; application code imports the
model it needs from its own package.
"""

from audiences import models as audience_models  # noqa: F401
from campaign_manager.api import idempotency  # noqa: F401
from campaign_manager.campaigns import models as campaign_models  # noqa: F401
from campaign_manager.channels import models as channel_models  # noqa: F401
from campaign_manager.channels import print_jobs  # noqa: F401
from campaign_manager.core import accounts, api_tokens, feed_tokens  # noqa: F401
from campaign_manager.core import webhooks as webhook_models  # noqa: F401
from campaign_manager.core.db import Base
from creatives import models as creatives_models  # noqa: F401

metadata = Base.metadata
