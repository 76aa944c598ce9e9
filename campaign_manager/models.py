"""Imports every model module so that `Base.metadata` knows all tables.

Alembic's env.py and the test fixtures import this; application code imports the
model it needs from its own package.
"""

from audiences import models as audience_models  # noqa: F401
from campaign_manager.core import accounts  # noqa: F401
from campaign_manager.core.db import Base

metadata = Base.metadata
