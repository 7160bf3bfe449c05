"""Checked by mypy --strict in CI (not run by pytest): the stubs describe the API as it is used."""

from decimal import Decimal

import callmeter


def price_a_call(path: str) -> Decimal:
    with callmeter.Meter(path, budget=Decimal("0.50"), user_limits={"daily_cost": Decimal("5")}) as meter:
        call: callmeter.Call = meter.start_call("CA1", user="u1", metadata={"room": "r1"})
        tracked: callmeter.Tracked = call.track_tts("elevenlabs", "eleven_flash_v2_5", 120)
        if tracked.verdict == callmeter.Verdict.Cutoff:
            call.finalize("failed", "budget")
        reservation = call.reserve_inference("openai", "gpt-4o-mini", input_tokens=900, output_tokens=100)
        if isinstance(reservation, callmeter.Reservation):
            reservation.settle_inference(input_tokens=880, output_tokens=95)
        summary = call.finalize()
        total: Decimal = summary["total"]
        return total + tracked.cost
