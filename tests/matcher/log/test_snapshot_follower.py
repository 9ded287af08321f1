"""The snapshot follower process (matcher/log/snapshot_follower.py, snapshot_child.py;
plumbing: matcher/child_process.py): a failed snapshot is reported and the process goes
on; killed, it is started again at the next request."""
from __future__ import annotations

import os
import random
import signal

import pytest

from tests.matcher.log.helpers import SETUP, random_commands, run, run_commands, service

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_failed_snapshot_is_reported_and_a_killed_follower_restarts():
    async def go():
        s = service(history=False)
        await s.start()
        await run_commands(s, SETUP + random_commands(random.Random(11), 100, users=3))
        first = await s.make_snapshot()
        child = s.follower.child
        pid = child.pid
        # beyond the committed log: the child answers with the error and stays up
        with pytest.raises(RuntimeError, match="operation log gap"):
            s.follower.make(s.engine.oper_seq + 10, keep=3)
        assert child.alive() and child.pid == pid
        os.kill(pid, signal.SIGKILL)
        child.proc.wait()
        await s.call("balance.update", [1, "USDT", "deposit", 10**6, "1", {}])
        second = await s.make_snapshot()
        new_pid = child.pid
        await s.stop()
        return s, first, second, pid, new_pid, child

    s, first, second, pid, new_pid, child = run(go())
    assert new_pid != pid
    assert second["end_oper_id"] == first["end_oper_id"] + 1 == s.engine.oper_seq
    assert not child.alive()  # stopped with the service
