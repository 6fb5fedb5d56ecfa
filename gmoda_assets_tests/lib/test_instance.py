"""The platform's Dagster instance (gmoda_assets.lib.instance)."""

import signal
import subprocess
import sys

# A process that ran a job in its main thread, then one from another thread (as a test does to cut its load's
# connection), prints the processes left tailing that run's captured output, and whether it ignores SIGTERM.
RUNS = """
import os, signal, threading
from dagster import job, op
from gmoda_assets.lib.instance import get_instance

@op
def says():
    print("said")

@job
def speaks():
    says()

instance = get_instance()
speaks.execute_in_process(instance=instance)
results = []
thread = threading.Thread(target=lambda: results.append(speaks.execute_in_process(instance=instance)))
thread.start()
thread.join()
run = f"/{results[0].run_id}/compute_logs/".encode()
tails = [pid for pid in os.listdir("/proc") if pid.isdigit() and run in open(f"/proc/{pid}/cmdline", "rb").read()]
for pid in tails:
    os.kill(int(pid), signal.SIGKILL)
print(len(tails), signal.getsignal(signal.SIGTERM) is signal.SIG_IGN)
"""


def test_a_process_started_with_sigint_ignored_leaves_no_tail_and_can_be_terminated(instance):
    """A background job of a non-interactive shell starts with SIGINT ignored; Dagster then gave SIGTERM that
    handling after each run in the main thread, and the ``tail`` processes a run in another thread started to
    mirror its output ignored Dagster's SIGTERM at the run's end and outlived it (and the test session)."""
    done = subprocess.run([sys.executable, "-c", RUNS], capture_output=True, text=True, timeout=300,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert done.stdout.split()[-2:] == ["0", "False"], done.stderr[-2000:]
