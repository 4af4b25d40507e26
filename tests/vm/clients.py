#!/usr/bin/env python3
"""The clients of a Service, in one process (under emulation a process per request would eat the CPU it measures).

    clients.py HOST PORT SECONDS REPORT NEW_INTERVAL_S LONG_LIVED LONG_INTERVAL_S

- New connections: one request per connection every NEW_INTERVAL_S seconds, as browsers and short-lived clients do.
- Long-lived connections: LONG_LIVED HTTP/1.1 keep-alive connections, as a connection pool holds them, each with a
  request every LONG_INTERVAL_S seconds. A request that fails counts its connection as broken, and a new one takes
  its place.

Runs until REPORT.stop appears or SECONDS have passed, then writes REPORT:
  "new START_MS STATUS ELAPSED_MS ERROR" per new-connection request (START_MS: milliseconds since boot, as
  /proc/uptime counts them; STATUS 0: no answer within 2 s or a reset; ERROR: the exception's name, "-" when none),
  "long-requests N", "long-broken N", and "long-break MS CONNECTION ERROR" per broken long-lived connection.
"""
import http.client
import os
import sys
import threading
import time

host, port, seconds, report = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
new_interval, long_lived, long_interval = float(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7])
start = time.monotonic()
lines = []
lock = threading.Lock()


def now_ms():
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * 1000)


def running():
    return not os.path.exists(report + ".stop") and time.monotonic() - start < seconds


def get(connection):
    connection.request("GET", "/")
    response = connection.getresponse()
    response.read()
    return response.status


def new_connections():
    while running():
        sent = now_ms()
        connection = http.client.HTTPConnection(host, port, timeout=2)
        error = "-"
        try:
            status = get(connection)
        except (OSError, http.client.HTTPException) as e:
            status, error = 0, type(e).__name__
        finally:
            connection.close()
        with lock:
            lines.append(f"new {sent} {status} {now_ms() - sent} {error}")
        time.sleep(new_interval)


def long_lived_connections():
    connections = [None] * long_lived
    requests = 0
    breaks = []
    while running():
        round_start = time.monotonic()
        for i in range(long_lived):
            if connections[i] is None:
                connections[i] = http.client.HTTPConnection(host, port, timeout=2)
            try:
                if get(connections[i]) != 200:
                    raise http.client.HTTPException("not 200")
                requests += 1
            except (OSError, http.client.HTTPException) as error:
                breaks.append(f"long-break {now_ms()} {i} {type(error).__name__}")
                connections[i].close()
                connections[i] = None
        time.sleep(max(0.0, long_interval - (time.monotonic() - round_start)))
    with lock:
        lines.extend([f"long-requests {requests}", f"long-broken {len(breaks)}"] + breaks)


threads = [threading.Thread(target=new_connections), threading.Thread(target=long_lived_connections)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
with open(report + ".tmp", "w") as out:
    out.write("\n".join(lines) + "\n")
os.rename(report + ".tmp", report)
