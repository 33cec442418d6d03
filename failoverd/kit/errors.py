"""The two kinds of failure every action reports, so one retry policy can treat them all."""


class ActionError(Exception):
    """An action (a plan step, a switch, a verification) that did not succeed."""


class TransientError(ActionError):
    """Worth retrying: timeouts, refused connections, throttling, server errors."""


class PermanentError(ActionError):
    """Retrying cannot help (NOTAUTH, REFUSED, AccessDenied...): block and tell an operator."""


class Conflict(TransientError):
    """HTTP 409 from Kubernetes: the object changed since it was read, or already exists."""


class Forbidden(PermanentError):
    """HTTP 403 from Kubernetes: RBAC does not let this identity use that verb on that object."""


class Refused(Exception):
    """An operator's request that cannot be done now (the API's 409), with the reason."""


class UnknownService(Refused):
    """An operator named a service the config does not have (the API's 404)."""
