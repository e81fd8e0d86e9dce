"""python -m azure_standin serve --state DIR [--port N]

Runs the stand-in in the foreground and writes DIR/standin.json (url, ca_bundle, ids, secret)
for the demo and other processes; stops cleanly on SIGTERM/SIGINT."""

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from . import StandIn
from .providers.identity import ROLE_PROPAGATION_S


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m azure_standin")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("serve", help="run the stand-in in the foreground")
    sp.add_argument("--state", required=True, type=Path, help="state folder (kept across runs)")
    sp.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    sp.add_argument("--fault-rate", type=float, default=0.0, help="inject faults at this rate (0..1)")
    sp.add_argument("--fault-seed", type=int, default=1)
    sp.add_argument(
        "--time-scale", type=float, default=1.0, help="multiply Azure's durations (240 s ingress idle, cooldown...)"
    )
    sp.add_argument("--pull-mb-per-s", type=float, default=None, help="image pull delay: image size / this rate")
    sp.add_argument(
        "--role-propagation-s",
        type=float,
        default=ROLE_PROPAGATION_S,
        help=f"Azure seconds before a new role assignment takes effect (x time scale; default {ROLE_PROPAGATION_S:g})",
    )
    sp.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    stop = threading.Event()

    def on_signal(_signum, _frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    azure = StandIn(
        args.state,
        port=args.port,
        time_scale=args.time_scale,
        pull_mb_per_s=args.pull_mb_per_s,
        role_propagation_s=args.role_propagation_s,
    )
    if args.fault_rate:
        azure.set_faults(rate=args.fault_rate, seed=args.fault_seed)
    azure.start()
    info_path = args.state / "standin.json"
    try:
        info = {
            "url": azure.url,
            "ca_bundle": azure.ca_bundle,
            "subscription_id": azure.subscription_id,
            "tenant_id": azure.tenant_id,
            "client_id": azure.client_id,
            "client_secret": azure.client_secret,
            "pid": os.getpid(),
            "cloud_register_args": azure.cloud_register_args(),
            # HTTPS_PROXY for az's host-style storage URLs (docs/standin.md, "Host-style storage URLs")
            "proxy": azure.proxy_url,
        }
        tmp = info_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(info, indent=2))
        tmp.chmod(0o600)
        tmp.replace(info_path)
        print(f"azure stand-in serving on {azure.url} (state {args.state})", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        azure.stop()
        try:
            info_path.unlink()
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
