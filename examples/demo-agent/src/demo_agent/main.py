"""The agent: read a YAML config, serve /status and /metrics, stop on SIGTERM."""

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psutil
import yaml

from . import __version__

DEFAULTS = {
    "listen": "127.0.0.1",
    "port": 8470,
    "log_file": None,
    "interval_seconds": 10,
}

log = logging.getLogger("demo-agent")


def load_config(path):
    """The config file merged over the defaults; the C loader when libyaml is there."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as f:
        data = yaml.load(f, Loader=loader) or {}
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: expected a mapping, got {type(data).__name__}")
    unknown = set(data) - set(DEFAULTS) - {"extra"}
    if unknown:
        raise SystemExit(f"{path}: unknown keys: {', '.join(sorted(unknown))}")
    return {**DEFAULTS, **data}


class Metrics:
    """Host metrics, sampled every `interval` seconds by a background thread."""

    def __init__(self, interval):
        self.interval = interval
        self.started = time.time()
        self.sample = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def collect(self):
        vm = psutil.virtual_memory()
        # The root of the drive the agent runs from ("/" on POSIX).
        disk = psutil.disk_usage(os.path.abspath(os.sep))
        sample = {
            "cpu_percent": psutil.cpu_percent(interval=None),
            "cpu_count": psutil.cpu_count(),
            "memory_total_bytes": vm.total,
            "memory_available_bytes": vm.available,
            "disk_root_used_bytes": disk.used,
            "disk_root_total_bytes": disk.total,
            "boot_time_seconds": psutil.boot_time(),
            "processes": len(psutil.pids()),
        }
        if hasattr(os, "getloadavg"):  # not on Windows
            sample["load1"] = os.getloadavg()[0]
        with self.lock:
            self.sample = sample

    def run(self):
        while not self.stop.is_set():
            try:
                self.collect()
            except Exception:  # keep serving the last sample
                log.exception("collecting metrics failed")
            self.stop.wait(self.interval)

    def snapshot(self):
        with self.lock:
            return dict(self.sample)


def handler(metrics):
    class Handler(BaseHTTPRequestHandler):
        server_version = f"demo-agent/{__version__}"

        def send(self, code, body, ctype):
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/status":
                status = {
                    "status": "ok",
                    "version": __version__,
                    "uptime_seconds": round(time.time() - metrics.started, 3),
                    "python": sys.version.split()[0],
                    "libyaml": bool(yaml.__with_libyaml__),
                    "psutil": psutil.__version__,
                }
                self.send(200, json.dumps(status) + "\n", "application/json")
            elif self.path == "/metrics":
                lines = [
                    f"demo_agent_{k} {v}" for k, v in sorted(metrics.snapshot().items())
                ]
                self.send(200, "\n".join(lines) + "\n", "text/plain; version=0.0.4")
            else:
                self.send(404, "not found\n", "text/plain")

        def log_message(self, fmt, *args):
            log.info("%s %s", self.address_string(), fmt % args)

    return Handler


def main(argv=None):
    p = argparse.ArgumentParser(prog="demo-agent", description=__doc__)
    p.add_argument("--config", default="/etc/demo-agent/agent.yaml")
    p.add_argument("--port", type=int, help="override the config's port")
    p.add_argument("--version", action="version", version=f"demo-agent {__version__}")
    args = p.parse_args(argv)
    cfg = load_config(args.config)
    if args.port is not None:
        cfg["port"] = args.port
    logging.basicConfig(
        filename=cfg["log_file"],
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    metrics = Metrics(cfg["interval_seconds"])
    metrics.collect()
    server = ThreadingHTTPServer((cfg["listen"], cfg["port"]), handler(metrics))
    threading.Thread(target=metrics.run, daemon=True).start()

    def stop(signum, _frame):
        log.info("signal %d: stopping", signum)
        metrics.stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "demo-agent %s listening on %s:%d (libyaml %s)",
        __version__,
        cfg["listen"],
        server.server_address[1],
        yaml.__with_libyaml__,
    )
    print(f"listening on {cfg['listen']}:{server.server_address[1]}", flush=True)
    server.serve_forever()
    server.server_close()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
