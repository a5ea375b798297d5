"""The organisation (departments, their managers and members) and who approves a step by rule.

Admins keep the tree: a department has a name, a parent and a manager; a member of staff belongs to at most one
department. The approval matrix (``bpmn/approval_matrix.dmn``) yields approver specs for a step, which the diagram
hands to ``resolve_approvers`` just before the step's tasks are created:

- ``lane``: a holder of the step's own role (the default when the matrix names nobody);
- ``role:<role>``: a holder of that staff role;
- ``user:<username>``: that active member of staff;
- ``manager:drafter``: the manager of the drafter's department (its parent's, when the drafter is that manager),
  found at that moment.

What names nobody (an unknown role or user, a drafter without a manager) is left out and recorded in the contract's
history; a step left with nobody goes to its own role, so no contract waits for a person who does not exist.
"""
from sqlmodel import select

from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..models import Contract, Department, User
from ..visible_text import hidden_characters_error
from .accounts import ROLES

APPROVER_ROLES = tuple(role for role in ROLES if role not in ("customer", "admin"))
MAX_DEPTH = 50  # a department tree deeper than this is not walked further (it cannot hold a cycle: saving refuses one)


class OrgService:
    def __init__(self, db, history):
        self.db = db
        self.history = history

    # --- reading ------------------------------------------------------------------------------------------------------
    def departments(self, session):
        """Every department, each parent before its children (a depth-first walk), with its depth."""
        rows = list(session.exec(select(Department).order_by(Department.name)))
        children = {}
        for department in rows:
            children.setdefault(department.parent_id, []).append(department)
        ordered = []

        def walk(parent_id, depth):
            for department in children.get(parent_id, []):
                ordered.append((department, depth))
                walk(department.id, depth + 1)
        walk(None, 0)
        return ordered

    def members(self, session):
        """Active staff by department id (None: in no department)."""
        grouped = {}
        for user in session.exec(select(User).where(User.active).order_by(User.username)):
            if user.role_set - {"customer"}:
                grouped.setdefault(user.department_id, []).append(user)
        return grouped

    def manager_of(self, session, username):
        """The manager of the user's department, or of the nearest department above with a manager other than the
        user; None when there is none (no department, nobody named, or the manager's account is disabled)."""
        user = session.exec(select(User).where(User.username == username)).first()
        department_id = user.department_id if user is not None else None
        for _ in range(MAX_DEPTH):
            department = session.get(Department, department_id) if department_id is not None else None
            if department is None:
                return None
            if department.manager and department.manager != username and self._active_staff(session, department.manager):
                return department.manager
            department_id = department.parent_id
        return None

    def role_supervisor(self, session, role, holder=None):
        """Who an overdue task of ``role`` escalates to (超时升级): the manager above its holder when someone holds it
        (``manager_of``); else the manager of the department where most active holders of the role work (the nearest
        one above with an active manager); else the organisation's head, the manager an administrator named on a
        top-level department. None when the organisation names nobody."""
        if holder:
            return self.manager_of(session, holder)
        holders = [u for u in session.exec(select(User).where(User.active, User.department_id.is_not(None)))
                   if role in u.role_set]
        by_department = {}
        for user in holders:
            by_department[user.department_id] = by_department.get(user.department_id, 0) + 1
        departments = {d.id: d for d in session.exec(select(Department))}
        ranked = sorted(by_department, key=lambda d: (-by_department[d], departments[d].name))
        for department_id in ranked[:1]:
            for _ in range(MAX_DEPTH):
                department = departments.get(department_id)
                if department is None:
                    break
                if department.manager and self._active_staff(session, department.manager):
                    return department.manager
                department_id = department.parent_id
        for department in sorted((d for d in departments.values() if d.parent_id is None), key=lambda d: d.name):
            if department.manager and self._active_staff(session, department.manager):
                return department.manager
        return None

    @staticmethod
    def _active_staff(session, username):
        user = session.exec(select(User).where(User.username == username, User.active)).first()
        return user if user is not None and user.role_set - {"customer"} else None

    # --- the approvers of a step ----------------------------------------------------------------------------------------
    def resolve_approvers(self, step, approvers, lane_role):
        """Script function: the approver specs of a step as ``role:<role>`` and ``user:<username>``, in the matrix's
        order, each once; what names nobody is recorded and left out (see the module's docstring)."""
        session, resolved, missing = step.session, [], []
        for spec in approvers if isinstance(approvers, (list, tuple)) else [approvers]:
            found = self._resolve(session, spec, lane_role, step.contract_id)
            if found is None:
                missing.append(str(spec)[:100])
            elif found not in resolved:
                resolved.append(found)
        if missing:
            step.events.append({"event": "approvers_unresolved", "actor": "system",
                                "details": {"unresolved": missing, "role": lane_role}})
        return resolved or [f"role:{lane_role}"]

    def _resolve(self, session, spec, lane_role, contract_id):
        kind, _, who = spec.partition(":") if isinstance(spec, str) else ("", "", "")
        if kind == "lane" and not who:
            return f"role:{lane_role}"
        if kind == "role":
            return spec if who in APPROVER_ROLES else None
        if kind == "user":
            return spec if self._active_staff(session, who) else None
        if kind == "manager" and who == "drafter":
            contract = session.get(Contract, contract_id) if contract_id is not None else None
            manager = self.manager_of(session, contract.created_by) if contract is not None else None
            return f"user:{manager}" if manager else None
        return None

    # --- editing (admins) -------------------------------------------------------------------------------------------------
    def save_department(self, actor, name, parent_id=None, manager=None, department_id=None, version=None):
        """Create a department, or change one (``department_id`` with the ``version`` the admin saw)."""
        self._require_admin(actor)
        with self.db.write() as session:
            errors, name = {}, (name or "").strip()
            if not name or len(name) > 100:
                errors["name"] = "a name of 1 to 100 characters"
            elif problem := hidden_characters_error(name):
                errors["name"] = problem
            elif session.exec(select(Department.id).where(Department.name == name,
                                                          Department.id != (department_id or 0))).first():
                errors["name"] = f"there is already a department {name!r}"
            manager = (manager or "").strip() or None
            if manager and not self._active_staff(session, manager):
                errors["manager"] = f"no active member of staff {manager!r}"
            if parent_id is not None:
                if session.get(Department, parent_id) is None:
                    errors["parent_id"] = f"no department {parent_id}"
                elif department_id is not None and department_id in self._ancestors(session, parent_id):
                    errors["parent_id"] = "a department cannot sit under itself or one of its own"
            if errors:
                raise ValidationFailed("the department is not valid", errors)
            if department_id is None:
                department = Department(name=name, parent_id=parent_id, manager=manager)
            else:
                # the row lock makes a second admin's edit of the same version wait, then see the new version
                department = session.get(Department, department_id, with_for_update=True)
                if department is None:
                    raise NotFound(f"no department {department_id}")
                if department.version != version:
                    raise Conflict("someone else changed the department at the same moment; reload and try again")
                department.name, department.parent_id, department.manager = name, parent_id, manager
                department.version += 1
            session.add(department)
            session.flush()  # the same name saved by someone else at the same moment: a Conflict (db.write)
            self.history.record(session, "department_saved", actor.username,
                                details={"department": department.id, "name": name, "parent_id": parent_id,
                                         "manager": manager, "version": department.version})
            return department

    def set_department(self, actor, username, department_id):
        """Put a member of staff in a department (None: in none)."""
        self._require_admin(actor)
        with self.db.write() as session:
            user = session.exec(select(User).where(User.username == username)).first()
            if user is None:
                raise NotFound(f"no user {username!r}")
            if department_id is not None and session.get(Department, department_id) is None:
                raise ValidationFailed("no such department", {"department_id": f"no department {department_id}"})
            previous = user.department_id
            user.department_id = department_id
            session.add(user)
            self.history.record(session, "department_member_set", actor.username,
                                details={"user": username, "from": previous, "to": department_id})
            return user

    @staticmethod
    def _ancestors(session, department_id):
        """The department and every one above it."""
        seen = []
        while department_id is not None and department_id not in seen and len(seen) < MAX_DEPTH:
            seen.append(department_id)
            department = session.get(Department, department_id)
            department_id = department.parent_id if department is not None else None
        return seen

    @staticmethod
    def _require_admin(actor):
        if "admin" not in actor.role_set:
            raise Forbidden("only an administrator edits the organisation")
