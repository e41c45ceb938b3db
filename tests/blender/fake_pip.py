"""Stands in for ``python -m pip install ...`` at the process boundary: prints what pip prints, slowly.

FAKE_PIP_MODE: "ok" (two downloads, exit 0), "slow" (one endless download until killed), "fail" (pip's
error for a missing build, exit 1). FAKE_PIP_ARGS: a file that receives the command line, one per line.
"""

import os
import sys
import time

args = sys.argv[1:]
if os.environ.get("FAKE_PIP_ARGS"):
    with open(os.environ["FAKE_PIP_ARGS"], "w") as record:
        record.write("\n".join(args))
raw = "raw" in args
mode = os.environ.get("FAKE_PIP_MODE", "ok")


def download(name: str, megabytes: float, chunks: int, pause: float) -> None:
    print(f"Collecting {name}", flush=True)
    print(f"  Downloading https://download.example/{name}-cp311-none-any.whl ({megabytes} MB)", flush=True)
    total = int(megabytes * 1e6)
    for chunk in range(1, chunks + 1):
        done = total * chunk // chunks
        if raw:
            print(f"Progress {done} of {total}", flush=True)
        else:
            print(f"\r   {done / 1e6:.1f}/{megabytes} MB 10.0 MB/s eta 0:00:01", end="", flush=True)
        time.sleep(pause)
    print(flush=True)


if mode == "fail":
    print("Looking in indexes: https://pypi.org/simple", flush=True)
    print("ERROR: Could not find a version that satisfies the requirement torch==2.13.0+cpu", flush=True)
    print("ERROR: No matching distribution found for torch==2.13.0+cpu", flush=True)
    sys.exit(1)
if mode == "slow":
    download("torch-2.13.0", 190.4, 100000, 0.05)
download("torch-2.13.0", 190.4, 4, 0.01)
download("scipy-1.17.1", 35.2, 2, 0.01)
print("Successfully installed scipy-1.17.1 torch-2.13.0", flush=True)
