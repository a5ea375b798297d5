"""Time: the database stores aware UTC; people see China time (Asia/Shanghai)."""
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")


def utcnow():
    return datetime.now(timezone.utc)


def china_time(moment):
    """``moment`` (aware, or naive UTC as SQLite may return it) in China time."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(CHINA)
