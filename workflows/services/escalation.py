"""超时升级: a review step overdue by its ``due_in`` is offered to the supervisor of its role as well.

When is the diagram's: a non-interrupting boundary timer 审核超时 on the review task (as long as its ``due_in``) runs
the script ``escalate_overdue("legal_review")``. The step stays open for its own reviewers; each of its open tasks is
also offered to the supervisor (``OrgService.role_supervisor``: the manager above the task's holder, else above the
role's department, else the organisation's head), who may decide it (``is_for``) and finds it under 升级给我. The row
keeps who and when (``escalated_to``, ``escalated_at``), the history says "已超时，升级至 <name>", and the supervisor and
the task's holder are mailed, all in the timer's transaction. A task decided, sent back or withdrawn before its timer
takes the timer with it (the engine drops the boundary event), so nothing is escalated late.
"""
from sqlmodel import select

from ..clock import china_time, utcnow
from ..db import Statement
from ..models import User
from .notifications import CONTRACT_FACTS, Mail
from .tasks import TASK

OPEN_UNESCALATED = Statement(f"SELECT {', '.join(c.name for c in TASK.c)} FROM human_task WHERE id IN (:ids) "
                             "AND state = 'open' AND escalated_at IS NULL ORDER BY id", columns=TASK.c, lists=["ids"])
ESCALATE = Statement("UPDATE human_task SET escalated_at = :now, escalated_to = :to "
                     "WHERE id = :id AND state = 'open' AND escalated_at IS NULL", now=TASK.c.escalated_at)


class EscalationService:
    def __init__(self, org, notifications):
        self.org = org
        self.notifications = notifications

    def escalate_overdue(self, step, step_name):
        """Script function: offer the open tasks of the step ``step_name`` (a user task's id in the diagram) to the
        supervisor of their role; returns how many were escalated."""
        session = step.session
        ids = sorted(str(t.id) for t in step.ready if (t.task_spec.bpmn_id or t.task_spec.name) == step_name)
        rows = OPEN_UNESCALATED.rows(session, {"ids": ids}) if ids else []
        contract = CONTRACT_FACTS.first(session, {"id": step.contract_id}) if step.contract_id is not None else None
        now, mails, escalated = utcnow(), [], 0
        for row in rows:
            holder = row.candidate or row.assignee
            supervisor = self.org.role_supervisor(session, row.role, holder)
            if supervisor is None:
                step.events.append({"event": "escalation_unresolved", "actor": "system", "task_id": row.id,
                                    "task_name": row.name, "details": {"title": row.title, "role": row.role}})
                continue
            if ESCALATE.execute(session, {"id": row.id, "to": supervisor, "now": now}) != 1:
                continue
            escalated += 1
            people = {u.username: u for u in session.exec(select(User).where(User.username.in_({supervisor, holder})))}
            boss = people.get(supervisor)
            boss_name = boss.display_name or supervisor
            step.events.append({"event": "task_escalated", "actor": "system", "task_id": row.id, "task_name": row.name,
                                "comment": f"已超时，升级至 {boss_name}",
                                "details": {"title": row.title, "to": supervisor, "holder": holder,
                                            "due_at": row.due_at.isoformat()}})
            if contract is not None:
                mails += self._mails(contract, row, boss, people.get(holder) if holder else None)
        self.notifications.enqueue_many(session, mails)
        return escalated

    def _mails(self, contract, row, boss, holder):
        """The supervisor hears they may decide the overdue task; its holder, that it went up."""
        link = f"{self.notifications.base_url}/tasks/{row.id}\n"
        subject = f"[签约] 超时升级：{row.title} · {contract.number}"
        facts = f"合同《{contract.title}》（{contract.number}，客户：{contract.customer_name}）的待办「{row.title}」"
        due = f"截止时间：{china_time(row.due_at):%Y-%m-%d %H:%M}（北京时间）"
        boss_name = boss.display_name or boss.username
        mails = [Mail("task_escalated", boss.email, subject,
                      f"{boss_name}，您好：\n\n{facts}已超时，"
                      f"{'经办人 ' + (holder.display_name or holder.username) if holder else '尚无人'}未处理，现升级给您：您可以直接审批。\n"
                      f"{due}\n\n{link}", contract.id)]
        if holder is not None and holder.active and holder.email:
            mails.append(Mail("task_escalated", holder.email, subject,
                              f"{holder.display_name or holder.username}，您好：\n\n{facts}已超时，已升级至 {boss_name}，"
                              f"请尽快处理。\n{due}\n\n{link}", contract.id))
        return mails
