"""Sizes in one unit wherever a person reads them: a megabyte (MB) is 1,000,000 bytes, as
phones and file managers count them — in the FIELDSVC_MAX_*_MB settings, in the hints
beside an upload and in the message that refuses one."""

import math

MB = 1_000_000


def megabytes(size: int | float) -> str:
    """'15 MB'; rounded up to a tenth, so a file just over a 15 MB limit reads '15.1 MB'."""
    return f"{math.ceil(size / (MB / 10)) / 10:g} MB"
