"""Per-key concurrency's bad input, refused with one line naming the option before any
I/O: the decorator's spec (checked against the function's parameters), the client's
key and limit, and a worker with a keyed task on Citus."""

from __future__ import annotations

from typing import Any

import pytest

from rhythm.errors import ConfigError, InputError
from rhythm.runtime.concurrency import (
    ConcurrencySpec,
    check_request,
    parse_spec,
    refuse_keys_on_citus,
)
from rhythm.runtime.partitions import PLAIN, Topology
from rhythm.runtime.tasks import TaskDefinition


def charge(customer_id: str, order: dict[str, Any]) -> None: ...


def anything(**fields: Any) -> None: ...


def test_a_good_spec_names_an_input_or_a_path_into_one() -> None:
    assert parse_spec({"key": "customer_id", "limit": 1}, charge, "charge") == \
        ConcurrencySpec("customer_id", 1)
    assert parse_spec({"key": "order.customer", "limit": 3}, charge, "charge").route() == \
        {"key": "order.customer", "limit": 3}
    assert parse_spec({"key": "whatever", "limit": 2}, anything, "anything") is not None
    assert parse_spec(None, charge, "charge") is None


@pytest.mark.parametrize(("spec", "message"), [
    ({"key": "customerId", "limit": 1},
     "concurrency of task 'charge': key 'customerId' is not in the inputs: 'customerId' is"
     " not a parameter of the function (did you mean 'customer_id'?)"),
    ({"key": "customer_id", "limit": 0},
     "concurrency of task 'charge': limit must be a positive integer, got 0"),
    ({"key": "customer_id", "limit": -2},
     "concurrency of task 'charge': limit must be a positive integer, got -2"),
    ({"key": "customer_id", "limit": True},
     "concurrency of task 'charge': limit must be a positive integer, got True"),
    ({"key": "order..id", "limit": 1},
     "concurrency of task 'charge': key must be an input name or a dotted path, got 'order..id'"),
    ({"key": "customer_id"},
     "concurrency of task 'charge' must be {'key': 'inputName', 'limit': n}, got"
     " {'key': 'customer_id'}"),
    ("customer_id",
     "concurrency of task 'charge' must be {'key': 'inputName', 'limit': n}, got 'customer_id'"),
])
def test_a_bad_spec_is_one_line_naming_the_option(spec: Any, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_spec(spec, charge, "charge")
    assert str(caught.value) == message


@pytest.mark.parametrize(("key", "limit", "message"), [
    (None, 2, "concurrency_limit needs a concurrency_key"),
    ("k", None, "concurrency_limit must be a positive integer, got None"),
    ("k", 0, "concurrency_limit must be a positive integer, got 0"),
    ("", 1, "concurrency_key must be a string of 1 to 500 characters, got ''"),
    (7, 1, "concurrency_key must be a string of 1 to 500 characters, got 7"),
])
def test_a_bad_request_is_refused(key: Any, limit: Any, message: str) -> None:
    with pytest.raises(InputError) as caught:
        check_request(key, limit)
    assert str(caught.value) == message


def test_a_worker_with_a_keyed_task_refuses_citus() -> None:
    keyed = TaskDefinition("charge", charge, concurrency=ConcurrencySpec("customer_id", 1))
    plain = TaskDefinition("plain", charge)
    refuse_keys_on_citus([keyed, plain], PLAIN)
    refuse_keys_on_citus([plain], Topology(partitions=4, citus=True))
    with pytest.raises(ConfigError, match="task 'charge' has a concurrency key"):
        refuse_keys_on_citus([keyed, plain], Topology(partitions=4, citus=True))
