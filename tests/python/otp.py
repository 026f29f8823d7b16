"""RFC 4226 HOTP / RFC 6238 TOTP codes (HMAC-SHA-1, 30 s steps), standard library only, shared
by the Python relying-party test and the load driver. Independent of the server's library, so
both check Gatehouse against the RFCs."""

import base64
import hashlib
import hmac
import re
import struct
import time

PERIOD = 30


def hotp(key, counter, digits=6):
    """RFC 4226 §5.3."""
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 10**digits:0{digits}d}"


def base32_key(secret):
    """The key of a base32 secret as authenticator apps take it (spaces, dashes, case ignored)."""
    text = re.sub(r"[\s=-]", "", secret).upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def current_step():
    return int(time.time()) // PERIOD


# RFC 6238 Appendix B (SHA-1 seed; the 8-digit values' last six digits) and RFC 4226 Appendix D.
assert hotp(b"12345678901234567890", 59 // 30) == "287082"
assert hotp(b"12345678901234567890", 1111111109 // 30) == "081804"
assert hotp(b"12345678901234567890", 0) == "755224"
