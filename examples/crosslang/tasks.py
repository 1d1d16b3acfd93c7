"""The Python side of the cross-language example: a task the workflow calls first."""

from __future__ import annotations

import rhythm


@rhythm.task(retries=2)
def score_order(orderId: str, amount: float) -> dict:
    # (a stand-in for a model or a rules engine written in Python)
    return {"score": round(min(amount / 1000, 1.0), 3), "language": "python"}
