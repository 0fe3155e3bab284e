"""Which TCP listeners a set of processes holds, and whether an address is loopback (for the network tests)."""

from __future__ import annotations

import subprocess


def listeners(pids: set[int]) -> list[tuple[str, str]]:
    """(local address, process) of every TCP listener of these processes, from ``ss -ltnpH``."""
    import re

    found = []
    for line in subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout.splitlines():
        fields = line.split()
        for name, pid in re.findall(r'\("([^"]+)",pid=(\d+),', line):
            if int(pid) in pids:
                found.append((fields[3], name))
    return found


def is_loopback(address: str) -> bool:
    import ipaddress

    host = address.rsplit(":", 1)[0].strip("[]").removeprefix("::ffff:")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # "*", "0.0.0.0" and names are not loopback
