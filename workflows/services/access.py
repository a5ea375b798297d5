"""Who may see and act on which contract: one policy for the API, the pages, the CLI and the worker.

- Staff (sales, legal, finance, provider, admin) see every contract; what they may decide is the lane of the task
  (``TaskService``) and the role each use case asks for.
- A customer acts only on the contracts bound to its identity: the contract whose invitation it accepted (or an
  administrator bound it to), or, for an identity an administrator bound to an organisation (an integration's API
  account), every contract of that organisation's credit code, once it was sent for signature. Everything else
  answers 404, as if it did not exist: a customer learns nothing of other customers' contracts, nor of drafts.
- A customer's task (the lane ``customer``) is acted on by the bound customer alone: staff, administrators included,
  see it but never decide, sign, hold or hand it on for them; the signer changes only by a change of contact.
"""
from sqlalchemy import and_, false, or_, true
from sqlmodel import select

from ..actors import is_customer, is_staff
from ..errors import Forbidden, NotFound, Unauthenticated
from ..models import Contract, Invitation
from .tasks import is_for

# a contract reaches its customer when it is sent for signature; before that it is the provider's internal draft
CUSTOMER_VISIBLE = ("awaiting_customer", "countersigning", "active", "declined", "expired", "seal_refused", "terminated",
                    "ended")
CUSTOMER_LANE = "customer"


class AccessService:
    def __init__(self, contracts, tasks):
        self.contracts = contracts
        self.tasks = tasks

    def contract(self, session, actor, contract_id):
        """The contract, if ``actor`` may see it; NotFound otherwise."""
        contract = self.contracts.get(session, contract_id)
        if is_staff(actor) or (is_customer(actor) and self.is_bound(session, actor, contract)):
            return contract
        raise NotFound(f"no contract {contract_id}")

    def is_bound(self, session, customer, contract):
        if contract.status not in CUSTOMER_VISIBLE:
            return False
        if customer.credit_code and customer.credit_code == contract.customer_credit_code:
            return True
        bound = session.exec(select(Invitation.id).where(
            Invitation.contract_id == contract.id, Invitation.revoked_at.is_(None),
            Invitation.identity_id == customer.identity_id).limit(1)).first()
        return bound is not None

    def customer_contracts(self, session, customer):
        """The contracts bound to a customer, newest first."""
        query = select(Contract).where(self.visible_contracts(customer))
        return list(session.exec(query.order_by(Contract.updated_at.desc(), Contract.id.desc())))

    def visible_contracts(self, actor):
        """The SQL condition on ``Contract`` of the contracts ``actor`` may see (as :meth:`contract` decides one by
        one): every one for staff, a customer's bound ones (:meth:`is_bound`), none for anyone else."""
        if is_staff(actor):
            return true()
        if not is_customer(actor):
            return false()
        bound = select(Invitation.contract_id).where(Invitation.identity_id == actor.identity_id,
                                                     Invitation.revoked_at.is_(None))
        return and_(Contract.status.in_(CUSTOMER_VISIBLE), or_(Contract.id.in_(bound), *(
            [Contract.customer_credit_code == actor.credit_code] if actor.credit_code else [])))

    def task(self, session, actor, task_id):
        """An open or done task ``actor`` may look at: its role's, and for a customer only on a bound contract."""
        task = self.tasks.get(session, task_id)
        if is_customer(actor):
            self.contract(session, actor, task.contract_id)
        if not is_for(task, actor) and "admin" not in actor.role_set:
            raise Forbidden(f"this task is for {task.candidate}" if task.candidate
                            else f"this task belongs to the {task.role} role")
        return task

    def task_to_act_on(self, session, actor, task_id):
        """A task ``actor`` may decide, sign, hold or hand on: as :meth:`task`, and a customer's only by that customer."""
        task = self.task(session, actor, task_id)
        if task.role == CUSTOMER_LANE and not is_customer(actor):
            raise Forbidden("the customer's task is theirs alone: staff change the signer, they do not act for them")
        return task

    def require_timestamp_client(self, actor):
        """The time-stamping authority serves the product's own nodes and staff integrations, not the internet: a
        timestamp from it proves when bytes existed, and anyone could otherwise dress a forged PDF with one."""
        if actor is None:
            raise Unauthenticated("the time-stamping authority needs an API token (Authorization: Bearer <token>)")
        if not is_staff(actor):
            raise Forbidden("the time-stamping authority is for the provider's own systems")

    def require_role(self, actor, *roles):
        if not actor.role_set & set(roles):
            raise Forbidden(f"this needs one of the roles: {', '.join(roles)}")
