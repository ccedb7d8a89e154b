"""Run the sandbox: ``python -m sandbox --port 8765 --days 60 --write-config sandbox-config.json``.

Serves generated data for every vendor over the last ``--days`` days (up to today, UTC) and writes
a tap config that points at it, with the sandbox's credentials.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import signal
import sys
import threading

from sandbox.apps import SANDBOX_VENDORS
from sandbox.server import Sandbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--days", type=int, default=60, help="days of generated history")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--vendors", default="", help="comma-separated subset (default: all)")
    parser.add_argument("--write-config", help="write a tap config JSON pointing at the sandbox")
    args = parser.parse_args(argv)

    today = dt.datetime.now(dt.UTC).date()
    start, end = today - dt.timedelta(days=args.days), today + dt.timedelta(days=1)
    wanted = {v for v in args.vendors.split(",") if v}
    vendors = [v for v in SANDBOX_VENDORS if not wanted or v.key in wanted]
    apps = {v.key: v.make_app(start, end, args.seed) for v in vendors}
    sandbox = Sandbox(list(apps.values()), host=args.host, port=args.port)
    if args.write_config:
        sections = {v.key: v.demo_config(apps[v.key], sandbox.url) for v in vendors}
        config: dict[str, object] = {k: s for k, s in sections.items() if s is not None}
        config["start_date"] = f"{start.isoformat()}T00:00:00+00:00"
        with open(args.write_config, "w", encoding="utf-8") as handle:
            json.dump(config, handle, indent=2)
    print(f"sandbox listening on {sandbox.url} ({', '.join(apps)})", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sandbox.start()
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
