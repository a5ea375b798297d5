"""Out of office (外出): a member of staff away for a period names a substitute; tasks named for them meanwhile go to
the substitute (``workflows/services/absences.py``)."""
from datetime import datetime
from typing import Optional

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from ..clock import utcnow


class Absence(SQLModel, table=True):
    """One period away: from ``starts_at`` until ``ends_at`` (UTC), or until ``ended_at`` when it was ended early.
    ``version`` is the compare-and-set of a change."""

    __tablename__ = "absence"
    __table_args__ = (Index("ix_absence_username_ends_at", "username", "ends_at"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    username: str = Field(max_length=100)
    substitute: str = Field(max_length=100)
    starts_at: datetime
    ends_at: datetime
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    created_at: datetime = Field(default_factory=utcnow)
    ended_at: Optional[datetime] = None
    version: int = Field(default=1)
