#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Run iomap-demo --json in the configurations the acceptance criteria name
and check its output: one JSON object with the required integer keys,
->begin / ->end called once per extent, and per-folio state of 0 bytes
with one block per folio and at most 16 bytes per folio at 512-byte blocks.
With --fsync: one ->map_blocks per extent and 1 MiB write bios.  With an
image file and a 64 MiB cache budget: 1 GiB written, read back and
verified, the cache never past its budget plus the documented slack.

usage: demo-json.py PATH-TO-iomap-demo
"""
import json
import os
import subprocess
import sys
import tempfile

REQUIRED = ["iomap_begin_calls", "iomap_end_calls", "folios_with_state",
            "folio_state_bytes", "folio_state_bytes_per_folio", "bios_read",
            "bios_written", "bytes_read", "bytes_written",
            "read_iomap_begin_calls", "map_blocks_calls", "ioends",
            "bio_write_avg_bytes", "get_block_calls", "buffer_heads_peak",
            "buffer_head_bytes_per_folio", "cache_peak_bytes", "writeback_errors"]


def run(demo, *args):
    cmd = [demo, "--json", *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
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

    out = run(demo, "--write-size", "256M", "--io-size", "1M", "--extent-size", "64M",
              "--fsync")
    expect(out["map_blocks_calls"] == 4, "--fsync, 64 MiB extents: 4 map_blocks calls", out)
    expect(out["bio_write_avg_bytes"] >= 1048576, "--fsync: write bios of 1 MiB", out)
    expect(out["writeback_errors"] == 0 and out["read_bios"] > 0,
           "--fsync: no errors, reads from the device", out)

    out = run(demo, "--write-size", "8M", "--io-size", "1M", "--block-size", "1024",
              "--direct")
    expect(out["folios"] == 0 and out["read_bios"] == 0 and out["bytes_read"] == 8 << 20,
           "--direct: no page cache, data read from the device", out)

    for bs, per_folio in ((4096, 1), (512, 8)):
        out = run(demo, "--write-size", "1M", "--io-size", "1M", "--block-size", str(bs),
                  "--buffer-heads", "--fsync")
        blocks = (1 << 20) // bs
        expect(out["get_block_calls"] >= blocks and out["buffer_heads_peak"] >= blocks,
               f"--buffer-heads at {bs}: a get_block call and a buffer head per block", out)
        expect(out["buffer_head_bytes_per_folio"] > 0 and
               out["buffer_head_bytes_per_folio"] % per_folio == 0,
               f"--buffer-heads at {bs}: {per_folio} buffer heads per folio", out)

    out = run(demo, "--write-size", "2M", "--io-size", "64K", "--jdata", "--fsync")
    expect(out["trans_begun"] == 512 and out["trans_committed"] == 512 and
           out["trans_max_open"] == 1 and out["fua_writes"] == 512,
           "--jdata: one transaction per folio, one open at a time", out)

    with tempfile.TemporaryDirectory() as tmp:
        budget = 64 << 20
        out = run(demo, "--image", os.path.join(tmp, "img"), "--write-size", "1G",
                  "--cache-budget", "64M", "--fsync")
        slack = max(4 << 20, budget // 16)
        expect(0 < out["cache_peak_bytes"] <= budget + slack,
               "64 MiB budget: cache peak within budget + slack", out)

    # Bad arguments: exit 2 with one message.
    res = subprocess.run([demo, "--block-size", "3000"], capture_output=True, text=True)
    expect(res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1,
           "bad --block-size exits 2 with one message", {"stderr": res.stderr})
    res = subprocess.run([demo, "--direct", "--io-size", "1000", "--write-size", "1M"],
                         capture_output=True, text=True)
    expect(res.returncode == 2, "--direct with an unaligned --io-size exits 2",
           {"stderr": res.stderr})
    print("iomap-demo --json: ok")


if __name__ == "__main__":
    main()
