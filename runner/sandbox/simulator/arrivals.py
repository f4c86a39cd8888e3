"""When a request's bytes reached this machine, by the kernel's clock (Linux)."""

from __future__ import annotations

import socket
import struct
import sys

# The kernel's receive time of a request's first bytes (Linux: SO_TIMESTAMPNS works on
# TCP). Under load, this process's threads wait for the GIL and the CPU; a stamp taken
# in Python would carry that wait and show requests bunched that the client spaced out.
# Python does not name the option; 35 is SO_TIMESTAMPNS (and SCM_TIMESTAMPNS) on Linux.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35 if sys.platform == "linux" else None)
KERNEL_STAMPS = SO_TIMESTAMPNS is not None and struct.calcsize("q") == 8  # timespec of 64-bit Linux


def kernel_arrival(sock: socket.socket) -> float | None:
    """Peek (without consuming) the next request's first byte and its receive time.

    Blocks until the client sends, as reading the request line would. Correct for clients
    that do not pipeline (httpx, urllib: none do); a pipelined request already sitting in
    the handler's read buffer would make this wait for the one after it."""
    try:
        data, ancillary, _, _ = sock.recvmsg(1, socket.CMSG_SPACE(16), socket.MSG_PEEK)
    except OSError:
        return None
    for level, kind, payload in ancillary:
        if data and level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= 16:
            seconds, nanoseconds = struct.unpack("qq", payload[:16])
            return seconds + nanoseconds / 1e9
    return None
