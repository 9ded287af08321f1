"""The ViaBTC wire's errors: the codes, the error object ``{"code", "message"[, "data"]}``
and ``RpcError``, the one application error type of the access layer."""

INVALID_ARGUMENT = 1
INTERNAL_ERROR = 2
SERVICE_UNAVAILABLE = 3
METHOD_NOT_FOUND = 4
SERVICE_TIMEOUT = 5

MESSAGES = {
    INVALID_ARGUMENT: "invalid argument",
    INTERNAL_ERROR: "internal error",
    SERVICE_UNAVAILABLE: "service unavailable",
    METHOD_NOT_FOUND: "method not found",
    SERVICE_TIMEOUT: "service timeout",
}


def error_object(code: int, message: str | None = None, data: dict | None = None) -> dict:
    """The error member of a reply: ``{"code", "message"}``, plus ``"data"`` when given.
    ``message`` defaults to the code's standard message."""
    error = {"code": code, "message": message or MESSAGES.get(code, "error")}
    if data is not None:
        error["data"] = data
    return error


def invalid_argument(param: str, reason: str) -> dict:
    """Code 1 with ``data`` naming the parameter and the reason (spec README §6)."""
    return error_object(INVALID_ARGUMENT, data={"param": param, "reason": reason})


class RpcError(Exception):
    def __init__(self, code: int, message: str | None = None, data: dict | None = None):
        self.code = code
        self.message = message or MESSAGES.get(code, "error")
        self.data = data
        super().__init__(f"{self.code} {self.message} {data or ''}".strip())

    @classmethod
    def invalid(cls, param: str, reason: str) -> "RpcError":
        return cls(INVALID_ARGUMENT, data={"param": param, "reason": reason})

    def as_error(self) -> dict:
        return error_object(self.code, self.message, self.data)
