"""Is this node fit to serve: what a load balancer asks before sending it requests (``/readyz``)."""
from sqlalchemy import text

from .. import migrate
from ..errors import DomainError


class HealthService:
    def __init__(self, db, toolkit):
        self.db, self._toolkit = db, toolkit

    def readiness(self):
        """Each check's verdict ("ok" or what is wrong): the database answers, its schema is at this code's
        migration head, and the deployment's PKI opens (the same root on every node)."""
        checks = {}
        try:
            with self.db.read() as session:
                session.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except DomainError as exc:
            checks["database"] = exc.message
            return checks
        missing = migrate.pending(self.db)
        checks["migrations"] = "ok" if not missing else f"not at head: run `flask db upgrade` ({', '.join(missing)})"
        if not missing:
            try:
                self._toolkit()
                checks["pki"] = "ok"
            except Exception as exc:  # noqa: BLE001  whatever stops the PKI from opening makes the node unfit
                checks["pki"] = f"the deployment's PKI did not open: {exc}"
        return checks

    def pki_root(self):
        """The SHA-256 fingerprint of the root every signature here chains to: the same on every node of a deployment
        (nodes that disagree were given different databases or CA files)."""
        return self._toolkit().pki.root.fingerprint
