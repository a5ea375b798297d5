"""People's names for the codes the records keep: who acted, deployed, drafted or holds a task.

Records name staff by username and customers as ``customer:<identity id>`` (``workflows.actors``): stable keys, not
what a reader should see. ``names`` gives the display name of each; a code that names nobody (``system``, the demo
seed, a deleted account) is left out, and the caller says what it is.
"""
from sqlmodel import col, select

from ..models import CustomerIdentity, User

CUSTOMER_PREFIX = "customer:"


class PeopleService:
    def names(self, session, codes) -> dict[str, str]:
        codes = {code for code in codes if code}
        identity_ids = {int(code[len(CUSTOMER_PREFIX):]) for code in codes
                        if code.startswith(CUSTOMER_PREFIX) and code[len(CUSTOMER_PREFIX):].isdigit()}
        usernames = codes - {f"{CUSTOMER_PREFIX}{i}" for i in identity_ids}
        found = {}
        if usernames:
            found.update((username, name) for username, name in session.exec(
                select(User.username, User.display_name).where(col(User.username).in_(usernames))) if name)
        if identity_ids:
            found.update((f"{CUSTOMER_PREFIX}{i}", name or email) for i, name, email in session.exec(
                select(CustomerIdentity.id, CustomerIdentity.name, CustomerIdentity.email)
                .where(col(CustomerIdentity.id).in_(identity_ids))) if name or email)
        return found
