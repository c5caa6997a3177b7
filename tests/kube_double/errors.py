"""API errors as v1 Status objects, with the codes and reasons a real API server uses."""

from __future__ import annotations

from typing import Any

from .resources import ResourceType

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}


class ApiError(Exception):
    """Raised by handlers; rendered as a Status body with `code`."""

    def __init__(self, code: int, message: str, reason: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or _REASONS.get(code, "InternalError")
        self.details = details

    def status(self) -> dict[str, Any]:
        body = failure_status(self.message, self.reason, self.code)
        if self.details is not None:
            body["details"] = self.details
        return body


def failure_status(message: str, reason: str, code: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason}
    if code is not None:
        body["code"] = code
    return body


def success_status(details: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details is not None:
        body["details"] = details
    return body


def _details(rtype: ResourceType, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": rtype.plural}
    if rtype.group:
        details["group"] = rtype.group
    return details


def not_found(rtype: ResourceType, name: str) -> ApiError:
    return ApiError(404, f'{rtype.qualified} "{name}" not found', details=_details(rtype, name))


def already_exists(rtype: ResourceType, name: str) -> ApiError:
    return ApiError(409, f'{rtype.qualified} "{name}" already exists', "AlreadyExists", _details(rtype, name))


def conflict(rtype: ResourceType, name: str) -> ApiError:
    message = (
        f'Operation cannot be fulfilled on {rtype.qualified} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    return ApiError(409, message, "Conflict", _details(rtype, name))


def invalid(rtype: ResourceType, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """422 Invalid; causes are (reason, field, message) like FieldValueRequired."""
    text = ", ".join(f"{field}: {msg}" for _, field, msg in causes)
    if len(causes) > 1:
        text = f"[{text}]"
    details = _details(rtype, name)
    details["kind"] = rtype.kind
    details["causes"] = [{"reason": r, "message": m, "field": f} for r, f, m in causes]
    return ApiError(422, f'{rtype.kind} "{name}" is invalid: {text}', "Invalid", details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def exec_exit_status(argv: list[str], rc: int) -> dict[str, Any]:
    """What the exec error channel carries when the command ends with `rc`."""
    if rc == 0:
        return {"metadata": {}, "status": "Success"}
    message = f"command terminated with non-zero exit code: error executing command {argv}, exit code {rc}"
    body = {k: v for k, v in failure_status(message, "NonZeroExitCode").items() if k not in ("kind", "apiVersion")}
    body["details"] = {"causes": [{"reason": "ExitCode", "message": str(rc)}]}
    return body


def exec_internal_error(message: str) -> dict[str, Any]:
    """Error-channel Status for a command the runtime could not start (no ExitCode cause)."""
    text = f"Internal error occurred: error executing command in container: {message}"
    body = {k: v for k, v in failure_status(text, "InternalError", 500).items() if k not in ("kind", "apiVersion")}
    body["details"] = {"causes": [{"message": f"error executing command in container: {message}"}]}
    return body
