"""The framing of docs/wire.md, written by hand for tests that play a peer
(a forger, a flooding or trickling "primary"): protobuf fields in a
length-type frame. Only what those tests send."""
import struct

PAGE = 4096
PROTOCOL = 3  # common/wire.h: WIRE_PROTOCOL_VERSION
# docs/wire.md: frame types.
HELLO, EPOCH_BEGIN, DEVICE_STATE, EPOCH_COMMIT, ACK = 1, 2, 5, 6, 7
CHALLENGE = 10
ROLE_PRIMARY = 1


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def f_int(num, v):
    """A varint field; proto3 leaves a default (0) out."""
    return varint(num << 3) + varint(v) if v else b""


def f_bytes(num, b):
    if isinstance(b, str):
        b = b.encode()
    return varint(num << 3 | 2) + varint(len(b)) + b if b else b""


def frame(ftype, payload):
    return struct.pack("<IB", len(payload), ftype) + payload


def hello(term, mem, cluster="e2e", node="a"):
    """A Hello of a primary of term."""
    return frame(HELLO, f_int(1, PROTOCOL) + f_int(2, term) +
                 f_int(3, PAGE) + f_int(4, mem) + f_bytes(5, cluster) +
                 f_bytes(6, node) + f_int(8, ROLE_PRIMARY))
