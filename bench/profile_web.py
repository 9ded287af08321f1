"""uvicorn under cProfile, stats written when it is stopped (SIGTERM, as
bench/run_http_stack.sh does): ``python bench/profile_web.py OUT.prof <uvicorn arguments>``.
uvicorn re-raises the stop signal after its graceful shutdown; this handler gets it."""
import cProfile
import os
import signal
import sys

profile = cProfile.Profile()
out = sys.argv[1]


def dump(*_):
    profile.disable()
    profile.dump_stats(out)
    os._exit(0)


signal.signal(signal.SIGTERM, dump)
signal.signal(signal.SIGINT, dump)
sys.argv = ["uvicorn", *sys.argv[2:]]
sys.path.insert(0, os.getcwd())
from uvicorn.main import main  # noqa: E402

profile.enable()
main()
