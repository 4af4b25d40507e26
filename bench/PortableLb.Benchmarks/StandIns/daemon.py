#!/usr/bin/python3
"""A keepalived or exabgp stand-in for the churn soak: it reloads the way the real daemon reports it, takes some time
doing so, and counts every reload signal that arrives while the previous reload is still in progress.

usage: daemon.py keepalived|exabgp RUN_DIR RELOAD_SECONDS
  keepalived: SIGHUP reloads; it deletes RUN_DIR/keepalived.reload when done (keepalived's reload_file handshake).
  exabgp:     SIGUSR1 reloads; it logs "loaded new configuration successfully" to RUN_DIR/exabgp.log when done.
              A SIGHUP would shut the real exabgp down, so it is counted as forbidden.
On SIGTERM it writes RUN_DIR/<daemon>.stats (JSON) and exits."""
import json
import os
import signal
import sys
import threading
import time

daemon, run_dir, reload_seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
stats = {"reloads": 0, "overlapping_signals": 0, "forbidden_signals": 0}
busy = threading.Lock()


def finish_reload():
    time.sleep(reload_seconds)
    if daemon == "keepalived":
        try:
            os.unlink(os.path.join(run_dir, "keepalived.reload"))
        except FileNotFoundError:
            pass
    else:
        with open(os.path.join(run_dir, "exabgp.log"), "a") as log:
            log.write("reactor       loaded new configuration successfully\n")
    stats["reloads"] += 1
    busy.release()


def on_reload(signum, frame):
    if not busy.acquire(blocking=False):
        stats["overlapping_signals"] += 1
        return
    threading.Thread(target=finish_reload, daemon=True).start()


def on_forbidden(signum, frame):
    stats["forbidden_signals"] += 1


def on_term(signum, frame):
    with open(os.path.join(run_dir, daemon + ".stats"), "w") as out:
        json.dump(stats, out)
    sys.exit(0)


signal.signal(signal.SIGHUP if daemon == "keepalived" else signal.SIGUSR1, on_reload)
if daemon == "exabgp":
    signal.signal(signal.SIGHUP, on_forbidden)
signal.signal(signal.SIGTERM, on_term)
with open(os.path.join(run_dir, daemon + ".pid"), "w") as pid:
    pid.write(str(os.getpid()))
while True:
    time.sleep(1)
