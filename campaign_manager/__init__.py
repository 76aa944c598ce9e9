"""Campaign Manager: one campaign, many channels (email, social, web, print)."""

__version__ = "0.1.0"
