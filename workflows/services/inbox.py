"""The staff inbox: open tasks of the roles a user holds, and those named for them, with the facts of their contracts.

Every filter is a condition on indexed columns or a bounded LIKE, and pages come from the
database (LIMIT/OFFSET over ORDER BY due_at, id), so it stays fast with 100,000 contracts. A user's tasks are two
disjoint parts, each read in index order: their roles' tasks named for nobody (state, role, due_at, id, candidate) and the tasks
named for them (state, candidate, due_at, id); the page is the first rows of the two merged.
"""
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import and_, func, or_, union_all
from sqlmodel import select

from ..models import Contract, HumanTask
from .tasks import MAX_ROWS
from ..clock import utcnow

ASSIGNMENTS = ("all", "unclaimed", "mine", "named", "escalated")  # escalated: 升级给我, overdue tasks offered to me


@dataclass
class InboxFilters:
    role: str | None = None
    assignment: str = "all"
    service_type: str | None = None
    customer: str | None = None
    min_total: Decimal | None = None
    max_total: Decimal | None = None
    overdue: bool = False
    search: str | None = None


class InboxService:
    def page(self, session, user, filters, limit=25, offset=0):
        """(rows, total) for the user's roles; each row has the task and its contract's facts."""
        roles = sorted(user.role_set & ({filters.role} if filters.role else user.role_set))
        parts = [HumanTask.candidate == user.username]  # named for the user: a role filter keeps that role's
        if filters.role:
            parts[0] = and_(parts[0], HumanTask.role == filters.role)
        if filters.assignment == "escalated":  # whatever their role: the supervisor need not hold it
            parts = [HumanTask.escalated_to == user.username]
        elif filters.assignment != "named":
            parts.insert(0, and_(HumanTask.role.in_(roles), HumanTask.candidate.is_(None)))
        task_conditions = [HumanTask.state == "open"]
        if filters.assignment == "unclaimed":
            task_conditions.append(HumanTask.assignee.is_(None))
        elif filters.assignment == "mine":
            task_conditions.append(HumanTask.assignee == user.username)
        if filters.overdue:
            task_conditions.append(HumanTask.due_at < utcnow())
        contract_conditions = []
        if filters.service_type:
            contract_conditions.append(or_(Contract.service_types == filters.service_type,
                                           Contract.service_types.contains(filters.service_type, autoescape=True)))
        if filters.customer:
            contract_conditions.append(Contract.customer_name.contains(filters.customer, autoescape=True))
        if filters.min_total is not None:
            contract_conditions.append(Contract.total >= filters.min_total)
        if filters.max_total is not None:
            contract_conditions.append(Contract.total <= filters.max_total)
        if filters.search:
            term = filters.search.strip()
            contract_conditions.append(or_(Contract.number.contains(term, autoescape=True),
                                           Contract.customer_name.contains(term, autoescape=True)))
        total, firsts = 0, []
        for part in parts:
            where = and_(*task_conditions, part, *contract_conditions)
            counted = select(func.count(HumanTask.id)).where(where)
            if contract_conditions:  # without them the total is counted on the task index alone
                counted = counted.join(Contract, Contract.id == HumanTask.contract_id)
            total += session.exec(counted).one()
            firsts.append(select(HumanTask.id, HumanTask.due_at).join(Contract, Contract.id == HumanTask.contract_id)
                          .where(where).order_by(HumanTask.due_at, HumanTask.id).limit(min(limit + offset, MAX_ROWS))
                          .subquery().select())
        merged = union_all(*firsts).subquery()
        ids = select(merged.c.id).order_by(merged.c.due_at, merged.c.id).limit(limit).offset(offset)
        page = (select(HumanTask, Contract).join(Contract, Contract.id == HumanTask.contract_id)
                .where(HumanTask.id.in_(ids)).order_by(HumanTask.due_at, HumanTask.id))
        return session.exec(page).all(), total

    def counts(self, session, user):
        """Open tasks per role the user holds, named for nobody (roles without tasks show 0)."""
        query = (select(HumanTask.role, func.count()).where(HumanTask.state == "open", HumanTask.role.in_(sorted(user.role_set)),
                                                            HumanTask.candidate.is_(None))
                 .group_by(HumanTask.role))
        found = dict(session.exec(query).all())
        return {role: found.get(role, 0) for role in sorted(user.role_set) if role != "admin"}

    def named_count(self, session, user):
        """Open tasks named for the user (the approval matrix's person, or the drafter's manager)."""
        return session.exec(select(func.count(HumanTask.id)).where(HumanTask.state == "open",
                                                                   HumanTask.candidate == user.username)).one()

    def names(self, session, task_ids):
        """{task id: "contract number · task title"}, for a message about several tasks."""
        query = (select(HumanTask.id, Contract.number, HumanTask.title).join(Contract, Contract.id == HumanTask.contract_id)
                 .where(HumanTask.id.in_(task_ids)))
        return {task_id: f"{number} · {title}" for task_id, number, title in session.exec(query).all()}
