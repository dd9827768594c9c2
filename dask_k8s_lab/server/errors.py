"""The one error type the REST API raises; handlers turn it into ``{"message", "field"?}``."""

from __future__ import annotations

from tornado.web import HTTPError

from dask_k8s_common.watching import is_timeout


class ApiError(HTTPError):
    """An HTTP error with a message for people and, for invalid input, the field at fault."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(status, message.replace("%", "%%"))
        self.status = status
        self.message = message
        self.field = field

    def to_json(self) -> dict:
        body: dict = {"message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body


def invalid(field: str, message: str) -> ApiError:
    return ApiError(422, message, field)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def conflict(message: str, field: str | None = None) -> ApiError:
    return ApiError(409, message, field)


def from_kube_error(error: Exception, action: str) -> ApiError:
    """Translate a kr8s ``ServerError`` (or a connection failure) into an ``ApiError``.

    ``action`` says what we tried, e.g. ``"create DaskCluster team-a/foo"``; it leads the message so
    the user sees what failed, and the API server's own text (which names the missing verb and
    resource for a 403) follows it.
    """
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None) or getattr(error, "status_code", None)
    if status is None and error.__class__.__name__ == "NotFoundError":  # kr8s, for a 404
        status = 404
    detail = str(error) or error.__class__.__name__
    if status is None and is_timeout(error):
        return ApiError(504, f"Cannot {action}: the Kubernetes API did not answer in time ({detail})")
    if status == 403:
        return ApiError(403, f"Kubernetes refused to {action}: {detail}")
    if status == 404:
        return ApiError(404, f"Cannot {action}: {detail}")
    if status == 409:
        return ApiError(409, f"Cannot {action}: {detail}")
    if status in (400, 422):
        return ApiError(422, f"Kubernetes rejected the request to {action}: {detail}", _kube_field(error))
    if status == 401:
        return ApiError(502, f"Cannot {action}: the server's Kubernetes credentials were rejected ({detail})")
    return ApiError(502, f"Cannot {action}: the Kubernetes API failed ({detail})")


def _kube_field(error: Exception) -> str | None:
    """The field the API server blamed (``details.causes[].field`` of its Status), if any."""
    status = getattr(error, "status", None)
    if not isinstance(status, dict):
        return None
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("field"):
            return str(cause["field"])
    return None
