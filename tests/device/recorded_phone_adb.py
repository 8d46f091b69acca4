"""Test double for ``adb`` with a phone attached (no phone exists where the tests run).

It answers like ``adb`` for the one serial in ``$RECORDED_PHONE_SERIAL``: ``get-state``,
``push``, ``getprop``, the CPU frequency listing of a Pixel 2 (cores 0-3 at 1.9 GHz,
4-7 at 2.46 GHz: the phone for which TFLite's README gives the big-core mask ``f0``), and,
for a ``benchmark_model`` command, prints the recorded real output named by
``$RECORDED_PHONE_OUTPUT``. Every call's arguments are appended to ``$RECORDED_PHONE_LOG``
as one JSON line, so tests can check what the runner asked for.
"""

import json
import os
import sys

args = sys.argv[1:]
with open(os.environ["RECORDED_PHONE_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
serial = os.environ["RECORDED_PHONE_SERIAL"]
if args[:1] != ["-s"] or len(args) < 3:
    sys.exit("adb: this double only answers 'adb -s SERIAL COMMAND ...'")
if args[1] != serial:
    sys.stderr.write(f"error: device '{args[1]}' not found\n")
    sys.exit(1)
command, rest = args[2], args[3:]
PROPS = {"ro.product.model": "Pixel 2", "ro.product.manufacturer": "Google", "ro.build.version.release": "11",
         "ro.build.fingerprint": "google/walleye/walleye:11/RP1A.201005.004.A1/6934943:user/release-keys",
         "ro.board.platform": "msm8998", "ro.product.cpu.abi": "arm64-v8a"}
if command == "get-state":
    print("device")
elif command == "push":
    print(f"{rest[0]}: 1 file pushed, 0 skipped.")
elif command == "shell" and rest[:1] == ["getprop"]:
    print(PROPS.get(rest[1], ""))
elif command == "shell" and rest[:1] == ["grep"]:
    for cpu in range(8):
        print(f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/cpuinfo_max_freq:{1900800 if cpu < 4 else 2457600}")
elif command == "shell" and any(a.endswith("/benchmark_model") for a in rest) and "chmod" not in rest:
    with open(os.environ["RECORDED_PHONE_OUTPUT"]) as f:
        sys.stdout.write(f.read())
elif command == "shell":
    pass  # mkdir, chmod
else:
    sys.exit(f"adb: unknown command {command}")
