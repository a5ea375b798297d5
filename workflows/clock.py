"""Time: the database stores aware UTC; people see China time (Asia/Shanghai)."""
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")


def utcnow():
    return datetime.now(timezone.utc)


def aware(moment):
    """``moment`` with its zone: a naive one is UTC (SQLite may return stored times without their zone)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def china_time(moment):
    """``moment`` (aware, or naive UTC) in China time."""
    return aware(moment).astimezone(CHINA)
