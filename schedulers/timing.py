"""Moved to `campaign_manager.campaigns.timing`, where step editing and the calendar can use
it too (the layers let campaigns import nothing from the scheduler). Kept so existing
imports keep working."""

from campaign_manager.campaigns.timing import (  # noqa: F401
    EARLIEST_UTC_OFFSET,
    QuietHours,
    TimingError,
    local_time_step_start,
    local_to_utc,
    parse_clock,
    recipient_local_send_time,
    utc_to_local,
    zone,
)
