"""The one application error type of the access layer: it carries a ViaBTC error code."""

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
        error = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error
