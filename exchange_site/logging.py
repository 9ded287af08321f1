"""The logging format shared by every process: one line per record, JSON by default."""
import structlog


def one_line_formatter(fmt: str = "json"):
    renderer = (
        structlog.dev.ConsoleRenderer(colors=False)
        if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )


def alert_handler(redis_url: str, key: str, *, enabled: bool = True, capacity: int = 1000,
                  timeout: float = 0.5, max_len: int = 10_000) -> dict:
    """The LOGGING handler entry that sends CRITICAL records to the alert center
    (apps.alerts.handler, docs/alerts.md). Attached to the root logger, so it is in
    every process that configures Django logging; a logger with propagate=False must
    list "alerts" among its handlers itself."""
    return {
        "()": "apps.alerts.handler.RedisAlertHandler",
        "level": "CRITICAL",
        "redis_url": redis_url,
        "key": key,
        "enabled": enabled,
        "capacity": capacity,
        "timeout": timeout,
        "max_len": max_len,
    }
