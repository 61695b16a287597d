"""The agent: read a YAML config, serve /status and /metrics, stop on SIGTERM."""

import argparse
import importlib
import json
import logging
import os
import signal
import socket
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


# psutil's C extension on each platform.
PSUTIL_EXTENSIONS = {"linux": "_psutil_linux", "win32": "_psutil_windows", "darwin": "_psutil_osx"}


def selftest(config_path):
    """Check what this installed release needs to serve, without serving or
    writing anything (no log file): the config loads, the C extensions import
    (libyaml for PyYAML, psutil's), one metrics sample is taken, and a socket
    binds on the configured listen address (ephemeral port). Prints a report;
    returns 0 when everything passed, else 1, naming what failed."""
    failed = []

    def check(what, fn):
        try:
            return fn()
        except BaseException as e:  # SystemExit from load_config too
            if isinstance(e, KeyboardInterrupt):
                raise
            failed.append(f"{what}: {type(e).__name__}: {e}")
            return None

    cfg = check(f"config {config_path}", lambda: load_config(config_path))

    def libyaml():
        importlib.import_module("yaml._yaml")
        if not (yaml.__with_libyaml__ and hasattr(yaml, "CSafeLoader")):
            raise RuntimeError("PyYAML is not built with libyaml (no CSafeLoader)")
        return True

    with_libyaml = check("libyaml (yaml._yaml)", libyaml)
    ext = PSUTIL_EXTENSIONS.get(sys.platform)
    if ext:
        check(f"psutil extension psutil.{ext}", lambda: importlib.import_module(f"psutil.{ext}"))
    check("metrics sample", lambda: Metrics(1).collect())
    listen = None
    if cfg is not None:

        def bind():
            host = cfg["listen"]
            family = socket.AF_INET6 if ":" in str(host) else socket.AF_INET
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.bind((host, 0))
            return f"{host}:ephemeral"

        listen = check(f"bind {cfg['listen']}:0", bind)
    else:
        failed.append("listen: not tried (no config)")
    if failed:
        for f in failed:
            print(f"selftest FAILED: {f}", flush=True)
        return 1
    print(
        f"selftest ok: demo-agent {__version__}, libyaml {with_libyaml}, "
        f"psutil {psutil.__version__}, listen {listen}",
        flush=True,
    )
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="demo-agent", description=__doc__)
    p.add_argument("--config", default="/etc/demo-agent/agent.yaml")
    p.add_argument("--port", type=int, help="override the config's port")
    p.add_argument(
        "--selftest",
        action="store_true",
        help="check this installation (config, C extensions, metrics, listen address) and exit",
    )
    p.add_argument("--version", action="version", version=f"demo-agent {__version__}")
    args = p.parse_args(argv)
    if args.selftest:
        return selftest(args.config)
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
