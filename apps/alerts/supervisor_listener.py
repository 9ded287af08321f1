"""``python -m apps.alerts.supervisor_listener`` — a supervisord event listener that
raises an alert when a supervised process exits unexpectedly, is backing off or gave up
(PROCESS_STATE_EXITED with expected=0, PROCESS_STATE_BACKOFF, PROCESS_STATE_FATAL).

The alert goes the same path as any other: a CRITICAL log record of this process, with
the dead process's name as the alert's source, through the Redis handler of
settings.LOGGING. stdout is supervisor's protocol channel; logs go to stderr.
"""
from __future__ import annotations

import logging
import os
import sys

logger = logging.getLogger("apps.alerts.supervisor")

EVENTS = {"PROCESS_STATE_EXITED", "PROCESS_STATE_BACKOFF", "PROCESS_STATE_FATAL"}


def alert_for(event: str, headers: dict, payload: dict) -> str | None:
    """The alert text of one event, or None when it is not worth an alert."""
    name = payload.get("processname", "?")
    group = payload.get("groupname", name)
    label = name if group == name else f"{group}:{name}"
    if event == "PROCESS_STATE_EXITED":
        if payload.get("expected") == "1":
            return None
        return (f"process {label} exited unexpectedly (pid {payload.get('pid', '?')}, "
                f"from state {payload.get('from_state', '?')}); supervisord restarts it")
    if event == "PROCESS_STATE_BACKOFF":
        return f"process {label} could not start and is backing off (from state {payload.get('from_state', '?')})"
    if event == "PROCESS_STATE_FATAL":
        return f"process {label} could not be started and was given up (FATAL); it stays down"
    return None


def main() -> int:
    from supervisor import childutils

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange_site.settings")
    import django

    django.setup()
    while True:
        headers, body = childutils.listener.wait(sys.stdin, sys.stdout)
        event = headers.get("eventname", "")
        try:
            payload, _ = childutils.eventdata(body + "\n")
            text = alert_for(event, headers, payload) if event in EVENTS else None
            if text:
                logger.critical(text, extra={"alert_source": payload.get("processname", "supervisor")})
        except Exception:  # noqa: BLE001 - a bad event must not stop the listener
            logger.exception("could not handle supervisor event %s", event)
        childutils.listener.ok(sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
