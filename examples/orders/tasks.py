"""Tasks of the order example: plain Python functions, registered with @rhythm.task.

They only pretend to talk to a payment provider and a warehouse, so the example runs
anywhere; replace the bodies with real calls.
"""

from __future__ import annotations

import hashlib

import rhythm


def _fake_id(prefix: str, *parts: object) -> str:
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:10]
    return f"{prefix}-{digest}"


@rhythm.task(queue="orders", retries=3, timeout="30s")
def charge_card(orderId: str, amount: float) -> dict:
    if amount <= 0:
        raise ValueError(f"cannot charge a non-positive amount: {amount}")
    return {"id": _fake_id("pay", orderId, amount), "amount": amount}


@rhythm.task(queue="orders", retries=3)
def refund_payment(paymentId: str, amount: float) -> dict:
    return {"refundId": _fake_id("ref", paymentId), "amount": amount}


@rhythm.task(queue="orders")
def cancel_order(orderId: str, reason: str) -> dict:
    return {"orderId": orderId, "cancelled": True, "reason": reason}


@rhythm.task(queue="orders", retries=5, timeout="1m")
def ship_order(orderId: str, customer: str) -> dict:
    return {"trackingNumber": _fake_id("trk", orderId, customer)}
