"""The one table from domain errors to HTTP statuses: the API answers JSON with it, the pages render HTML with it."""
from workflows.errors import (Conflict, DomainError, Forbidden, InvalidDefinition, NotFound, Unauthenticated,
                              Unavailable, ValidationFailed)
from workflows.services.runtime import ProcessFailed
from workflows.services.sessions import TooManyAttempts


class MalformedRequest(DomainError):
    """The request itself cannot be read (a body that is not JSON or nests too deeply, text no database stores): it
    never reaches a use case. ``fields`` names the offending part when there is one."""

    code = "bad_request"


STATUS_OF = {NotFound: 404, Unauthenticated: 401, Forbidden: 403, Conflict: 409, ValidationFailed: 422, InvalidDefinition: 422,
             ProcessFailed: 409, TooManyAttempts: 429, Unavailable: 503, MalformedRequest: 400}


def with_retry_after(response, exc):
    """A refusal that says when to come back does so in Retry-After: a 503 (``Unavailable.retry_after``: what was
    refused changed nothing), a 429 (``TooManyAttempts.retry_after``: when the oldest failed sign-in expires)."""
    if isinstance(exc, Unavailable | TooManyAttempts):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def status_of(exc):
    """The status of a domain error (by its class or the nearest base in the table); 400 for any other."""
    return next((STATUS_OF[kind] for kind in type(exc).__mro__ if kind in STATUS_OF), 400)
