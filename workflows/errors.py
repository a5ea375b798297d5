"""Domain errors. The web layer maps each to one HTTP status; nothing else decides statuses."""


class DomainError(Exception):
    """Base of every error a caller is expected to handle."""

    code = "error"

    def __init__(self, message, fields=None):
        super().__init__(message)
        self.message = message
        self.fields = dict(fields or {})


class NotFound(DomainError):
    code = "not_found"


class Unauthenticated(DomainError):
    """The caller did not say who it is (no or an unknown credential) where that is required."""

    code = "unauthorized"


class Forbidden(DomainError):
    code = "forbidden"


class Conflict(DomainError):
    """The state changed under the caller (optimistic lock lost, task already done, wrong step)."""

    code = "conflict"


class ValidationFailed(DomainError):
    """Input rejected; `fields` maps a dotted field path (``customer.credit_code``) to a message."""

    code = "validation_failed"


class InvalidDefinition(DomainError):
    """A BPMN/DMN file that cannot be deployed; the message names the offending element."""

    code = "invalid_definition"


class Unavailable(DomainError):
    """A service the step depends on (the database, the time-stamping authority) did not answer: nothing changed;
    try again after ``retry_after`` seconds."""

    code = "unavailable"
    retry_after = 5
