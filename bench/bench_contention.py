"""Benchmark: a 20k-row load while ten people browse the dashboard, against the same load idle.

    .venv/bin/python bench/bench_contention.py [--sessions 10] [--rows 20000] [--every 2.0] [--port 8765]
                                               [--template STORE]   # a store with the sample already loaded

It loads the bundled sample into a template store, and makes an export of `--rows` new cases from
the sample's own rows (new case numbers, the customers' words as they are). Then, each on a fresh
copy of the template:

1. idle: `python -m pipelines ingest EXPORT` with nothing else running;
2. contended: the dashboard is started on 127.0.0.1 (`streamlit run app.py`, as scripts/start.sh
   does) and `--sessions` real sessions connect to it over its WebSocket, the way a browser does
   (Streamlit's own protocol messages: a rerun of a page with a query string, then everything the
   server sends until the script finishes). Each session opens a different page with other filters
   (period, product, channel) every `--every` seconds; once all are browsing, the same ingest runs.

It prints the load's wall time in both cases and their ratio (target ≤ 2×), plus what the sessions
saw: page views, their median and 95th-percentile times, and how many showed 「更新中」 (the store
was being written). Figures are from a shared machine: run it twice before trusting a digit.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAGES = ["home", "trends", "themes", "cases", "recurrence", "flow", "history"]
PERIODS = ["4w", "month", "prev_month", "quarter", "all"]
BUSY_WORD = "更新中".encode()
FULL_RUN_ENDS = (0, 1)   # ForwardMsg.ScriptFinishedStatus: FINISHED_SUCCESSFULLY, FINISHED_WITH_COMPILE_ERROR


def make_export(rows: int, out: Path) -> Path:
    """`rows` new cases: the sample's rows with new case numbers (so every one is an insert)."""
    with (ROOT / "data" / "sample" / "cases.csv").open(encoding="utf-8-sig", newline="") as source:
        reader = csv.reader(source)
        header = next(reader)
        records = list(itertools.islice(reader, rows))
    while len(records) < rows:   # a sample smaller than asked: its rows again, under other numbers
        records += records[: rows - len(records)]
    with out.open("w", encoding="utf-8-sig", newline="") as target:
        writer = csv.writer(target, lineterminator="\r\n")
        writer.writerow(header)
        for number, record in enumerate(records):
            writer.writerow([f"B-{number:06d}", *record[1:]])
    return out


def timed_ingest(export: Path, store: Path) -> float:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pipelines", "ingest", str(export), "--db", str(store), "--quiet"],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"the load failed ({done.returncode}):\n{done.stderr}")
    return seconds


def free_port(preferred: int) -> int:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", preferred)) != 0:
            return preferred
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_app(store: Path, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "KAKEHASHI_DB": str(store), "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
                               "--server.port", str(port), "--server.headless", "true",
                               "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env,
                              stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read() == b"ok":
                return server
        except OSError:
            time.sleep(0.3)
    server.kill()
    raise SystemExit(f"the dashboard did not start; see {log}")


class Session(threading.Thread):
    """One browser tab: a WebSocket to the server, a page view every `every` seconds."""

    def __init__(self, number: int, port: int, every: float, products: list[str], stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.number, self.port, self.every, self.products, self.stop = number, port, every, products, stop
        self.views: list[tuple[float, float, bool]] = []   # (started, seconds, showed 更新中)
        self.errors: list[str] = []

    def run(self) -> None:
        try:
            self.browse()
        except Exception as exc:  # noqa: BLE001 - reported with the figures: a dead session measures nothing
            self.errors.append(f"{type(exc).__name__}: {exc}")

    def browse(self) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
        from websockets.sync.client import connect

        rng = random.Random(self.number)
        with connect(f"ws://127.0.0.1:{self.port}/_stcore/stream", subprotocols=["streamlit"],
                     max_size=None, open_timeout=30, ping_interval=None) as ws:
            for step in itertools.count():
                if self.stop.is_set():
                    return
                page = PAGES[(self.number + step) % len(PAGES)]
                params = {"period": rng.choice(PERIODS)}
                if rng.random() < 0.5 and self.products:
                    params["product"] = rng.choice(self.products)
                message = BackMsg()
                message.rerun_script.query_string = urlencode(params)
                message.rerun_script.page_name = page
                started = time.monotonic()
                ws.send(message.SerializeToString())
                busy = False
                while True:
                    try:
                        data = ws.recv(timeout=120)
                    except TimeoutError:
                        self.errors.append(f"{page}: no answer in 120 s")
                        break
                    busy = busy or BUSY_WORD in data
                    forward = ForwardMsg.FromString(data)
                    # A run that ends early for a rerun (the frame's first switch) is followed by the real one.
                    if forward.WhichOneof("type") == "script_finished" and forward.script_finished in FULL_RUN_ENDS:
                        break
                self.views.append((started, time.monotonic() - started, busy))
                self.stop.wait(max(0.0, self.every - (time.monotonic() - started)))


def products_of(store: Path) -> list[str]:
    import duckdb

    with duckdb.connect(str(store), read_only=True) as con:
        return [p for (p,) in con.execute("SELECT DISTINCT product FROM cases WHERE product IS NOT NULL LIMIT 8").fetchall()]


def contended(template: Path, export: Path, work: Path, sessions: int, every: float, port: int) -> tuple[float, list]:
    store = work / "contended.duckdb"
    shutil.copy(template, store)
    port = free_port(port)
    server = start_app(store, port, work / "streamlit.log")
    stop = threading.Event()
    tabs = [Session(i, port, every, products_of(store), stop) for i in range(sessions)]
    try:
        for tab in tabs:
            tab.start()
        time.sleep(max(6.0, 3 * every))   # every tab has opened a page or two: the caches are warm
        begun = time.monotonic()
        seconds = timed_ingest(export, store)
        time.sleep(every)
        stop.set()
        for tab in tabs:
            tab.join(timeout=150)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    during = [(s, d, b) for tab in tabs for (s, d, b) in tab.views if s >= begun]
    for tab in tabs:
        for error in tab.errors:
            print(f"session {tab.number}: {error}", file=sys.stderr)
    return seconds, during


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--every", type=float, default=2.0, help="seconds between a session's page views")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--template", type=Path, help="a store with the sample loaded (copied, never written)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kakehashi-bench-") as tmp:
        work = Path(tmp)
        template = work / "template.duckdb"
        if args.template:
            shutil.copy(args.template, template)
        else:
            print("loading the sample into a template store …", file=sys.stderr)
            subprocess.run([sys.executable, "-m", "pipelines", "load-sample", "--db", str(template), "--quiet"],
                           cwd=ROOT, check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        export = make_export(args.rows, work / "export.csv")
        idle_store = work / "idle.duckdb"
        shutil.copy(template, idle_store)
        idle = timed_ingest(export, idle_store)
        print(f"idle load: {idle:.1f} s", file=sys.stderr)
        busy_seconds, views = contended(template, export, work, args.sessions, args.every, args.port)
    times = sorted(d for _, d, _ in views)
    shown_busy = sum(1 for _, _, b in views if b)
    print(f"load of {args.rows:,} rows, idle:                       {idle:6.1f} s")
    print(f"same load, {args.sessions} sessions browsing every {args.every:g} s: {busy_seconds:6.1f} s  "
          f"({busy_seconds / idle:.2f}x idle; target <= 2x)")
    if len(times) < args.sessions:
        print(f"only {len(times)} page views during the load: the sessions did not browse (see above)")
        return 2
    if times:
        p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
        print(f"page views during the load: {len(times)}, median {statistics.median(times):.2f} s, p95 {p95:.2f} s, "
              f"showing 更新中: {shown_busy}")
    return 0 if busy_seconds <= 2 * idle else 1


if __name__ == "__main__":
    sys.exit(main())
