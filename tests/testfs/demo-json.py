#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Run iomap-demo --json in the configurations the acceptance criteria name
and check its output: one JSON object with the required integer keys,
->begin / ->end called once per extent, and per-folio state of 0 bytes
with one block per folio and at most 16 bytes per folio at 512-byte blocks.

usage: demo-json.py PATH-TO-iomap-demo
"""
import json
import subprocess
import sys

REQUIRED = ["iomap_begin_calls", "iomap_end_calls", "folios_with_state",
            "folio_state_bytes", "folio_state_bytes_per_folio", "bios_read",
            "bios_written", "bytes_read", "bytes_written",
            "read_iomap_begin_calls"]


def run(demo, *args):
    cmd = [demo, "--json", *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        sys.exit(f"{' '.join(cmd)}: exit {res.returncode}: {res.stderr.strip()}")
    try:
        out = json.loads(res.stdout)
    except json.JSONDecodeError as e:
        sys.exit(f"{' '.join(cmd)}: not one JSON object ({e}): {res.stdout!r}")
    for key in REQUIRED:
        if not isinstance(out.get(key), int):
            sys.exit(f"{' '.join(cmd)}: key {key} missing or not an integer")
    return out


def expect(cond, what, out):
    if not cond:
        sys.exit(f"FAILED: {what}: {json.dumps(out)}")


def main():
    demo = sys.argv[1]
    one_mib = ["--write-size", "1M", "--io-size", "1M"]

    out = run(demo, *one_mib, "--extent-size", "1M")
    expect(out["iomap_begin_calls"] == 1 and out["iomap_end_calls"] == 1,
           "1 MiB extents: one ->begin / ->end pair", out)
    expect(out["folio_state_bytes_per_folio"] == 0,
           "4096-byte blocks: no per-folio state", out)

    out = run(demo, *one_mib, "--extent-size", "4K")
    expect(out["iomap_begin_calls"] == 256 and out["iomap_end_calls"] == 256,
           "4 KiB extents: 256 ->begin / ->end pairs", out)

    out = run(demo, *one_mib, "--block-size", "512")
    expect(out["folio_state_bytes_per_folio"] <= 16,
           "512-byte blocks: at most 16 bytes of state per folio", out)

    out = run(demo, "--write-size", "300K", "--io-size", "1000", "--block-size", "512",
              "--no-delalloc")
    expect(out["folio_state_bytes_per_folio"] <= 16,
           "512-byte blocks, unaligned writes: at most 16 bytes per folio", out)

    # Bad arguments: exit 2 with one message.
    res = subprocess.run([demo, "--block-size", "3000"], capture_output=True, text=True)
    expect(res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1,
           "bad --block-size exits 2 with one message", {"stderr": res.stderr})
    print("iomap-demo --json: ok")


if __name__ == "__main__":
    main()
