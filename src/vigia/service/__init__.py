"""The HTTP service: partner authorities read what was released to them and report back.

:func:`create_app` builds the FastAPI application on a store (``vigia serve`` runs it under
uvicorn). Routes are thin: they authenticate (:mod:`vigia.service.auth`), call one store
function that decides what the principal may see and do, audit, and serialise. Errors become
RFC 9457 problem documents (:mod:`vigia.service.problems`)::

    AuthError        401 (with ``WWW-Authenticate: Bearer``)
    ForbiddenError   403 (an object the principal can see, an action it may not take)
    NotFoundError    404 (absent, or not visible to the principal: never 403)
    LifecycleError   409
    InputError       422 (also malformed JSON and failed validation)
    body too large   413
"""

from vigia.service.app import create_app

__all__ = ["create_app"]
