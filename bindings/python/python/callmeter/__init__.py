"""callmeter: exact cost tracking for voice-AI calls, in process.

Every track call prices a usage from the catalog, adds it to the call's totals and hands the event to
the meter's writer thread, which writes it to SQLite: the calling thread never waits for the disk.
Money is ``decimal.Decimal``, exact; a float is refused wherever money goes in.

>>> import callmeter
>>> with callmeter.Meter("costs.db") as meter:            # doctest: +SKIP
...     call = meter.start_call("CA42", user="u1")
...     call.track_tts("elevenlabs", "eleven_flash_v2_5", 120).cost
...     call.finalize()["total"]
"""

from ._callmeter import (
    Call,
    CallFinalizedError,
    CallmeterError,
    CatalogError,
    ConfigError,
    DuplicateCallError,
    InvalidQuantityError,
    Meter,
    MissingRateError,
    Refusal,
    Reports,
    Reservation,
    StorageError,
    Tracked,
    UnknownModelError,
    UnpersistedError,
    Verdict,
    WaitTimeoutError,
)

__all__ = [
    "Call",
    "CallFinalizedError",
    "CallmeterError",
    "CatalogError",
    "ConfigError",
    "DuplicateCallError",
    "InvalidQuantityError",
    "Meter",
    "MissingRateError",
    "Refusal",
    "Reports",
    "Reservation",
    "StorageError",
    "Tracked",
    "UnknownModelError",
    "UnpersistedError",
    "Verdict",
    "WaitTimeoutError",
]
