"""The organisation: departments (a tree), their managers and members. The approval matrix names "the drafter's
manager"; this is where that person is found when the task is created."""
from typing import Optional

from sqlmodel import Field, SQLModel


class Department(SQLModel, table=True):
    """One department; ``manager`` is a username. ``version`` is the compare-and-set of an admin's edit."""

    __tablename__ = "department"

    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    parent_id: Optional[int] = Field(default=None, foreign_key="department.id", index=True)
    manager: Optional[str] = Field(default=None, max_length=100)
    version: int = Field(default=1)
