"""Time as whole epoch seconds: what every expiry column stores (no time-zone ambiguity across databases)."""

import time


def now() -> int:
    return int(time.time())
