"""Run the eksupgrade CLI with its fixed waits multiplied by the sandbox's time scale.

    .venv-peers/eksupgrade/bin/python peers/eksupgrade/paced.py --time-scale 0.01 payments-prod 1.33 us-east-1 ...

eksupgrade sleeps 30 s before every waiter and its waiters poll every 35 s, in real seconds whatever the
control plane is: against `eks-sandbox serve --time-scale X`, those waits would dominate a rehearsal. Scaled by
X they keep production's proportions, as the runbooks' poll interval does (30 s times X in tests and benchmarks).
Everything else is eksupgrade's own CLI, unchanged; the arguments after ``--time-scale X`` are its own.
"""

from __future__ import annotations

import sys
import time


def main() -> None:
    option, scale, *arguments = sys.argv[1:]
    if option != "--time-scale":
        sys.exit("usage: paced.py --time-scale X CLUSTER_NAME CLUSTER_VERSION REGION [eksupgrade options]")
    real_sleep = time.sleep
    time.sleep = lambda seconds: real_sleep(seconds * float(scale))  # botocore's waiters sleep through it too

    from eksupgrade.cli import app

    app(args=arguments, prog_name="eksupgrade")


if __name__ == "__main__":
    main()
