"""Kill-and-resume, the full run: SIGKILL the tap at N random points per vendor (by records
read), resume from the last STATE it emitted, and print lost records (must be 0) and the
duplicate rate per vendor.

    python scripts/kill_resume.py --points 20 [--vendor certainly] [--seed 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.server import Sandbox
from tests.reliability.harness import VendorEnv
from tests.reliability.killresume import kill_and_resume, kill_points
from tests.reliability.scenarios import SCENARIOS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20)
    parser.add_argument("--vendor", action="append", choices=sorted(SCENARIOS))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    failed = False
    print(f"{'vendor':<10} {'points':>6} {'records':>8} {'lost':>5} {'dup rate':>9} {'leaks':>5}")
    for key in args.vendor or list(SCENARIOS):
        scenario = SCENARIOS[key]
        app = scenario.make_app()
        started = time.monotonic()
        with Sandbox([app]) as sandbox:
            env = VendorEnv(scenario, app, sandbox)
            env.clean = env.run()
            if env.clean.run.returncode != 0:
                print(f"{key}: the fault-free run failed", file=sys.stderr)
                return 1
            results = [
                kill_and_resume(env, point)
                for point in kill_points(env, args.points, seed=args.seed)
            ]
        expected = results[0].expected
        lost = sum(r.lost for r in results)
        leaked = sum(len(r.leaked) for r in results)
        rate = sum(r.duplicates for r in results) / (expected * len(results))
        failed |= bool(lost or leaked)
        print(
            f"{key:<10} {len(results):>6} {expected:>8} {lost:>5} {rate:>8.1%} {leaked:>5}"
            f"   ({time.monotonic() - started:.0f} s; kills after "
            f"{min(r.kill_after for r in results)}..{max(r.kill_after for r in results)} records)"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
