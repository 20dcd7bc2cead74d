"""A bounded Schemathesis run over the OpenAPI schema of the API (in-process ASGI, no
network): valid and invalid requests to every operation, a fixed seed and a few
examples each. Must show 0 server errors and 0 status codes the schema does not list.

Runs twice: without a key (requests reach the answering code) and with one (guarded
routes answer 401 to the generated keys). Hypothesis drives each operation's strategy
directly (Schemathesis' own pytest loader does not run under pytest 9).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import status_code_conformance

from rag.interfaces.server import create_app
from rag.settings import Settings

pytestmark = pytest.mark.slow

EXAMPLES = 12  # per operation and generation mode (valid / invalid)
CHECKS = [not_a_server_error, status_code_conformance]
BOUNDED = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def run_operation(
    op: Any, mode: GenerationMode, calls: Counter[tuple[str, int]], failures: list[str]
) -> None:
    """Call one operation with the bounded examples of one mode; record what came back."""

    @seed(13)
    @BOUNDED
    @given(case=op.as_strategy(generation_mode=mode))
    def one(case: Any) -> None:
        response = case.call()
        calls[(op.label, response.status_code)] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:
            failures.extend(f"{op.label} {response.status_code}: {e}" for e in group.exceptions)
        except Failure as e:
            failures.append(f"{op.label} {response.status_code}: {e}")

    one()


def fuzz(home: Path, key: str) -> tuple[Counter[tuple[str, int]], list[str]]:
    """(calls per operation and status, failures) of one bounded run."""
    app = create_app(Settings(home=home, embedder="fake", api_key=key))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    calls: Counter[tuple[str, int]] = Counter()
    failures: list[str] = []
    for result in schema.get_all_operations():
        op = result.ok()
        run_operation(op, GenerationMode.POSITIVE, calls, failures)
        # an invalid request needs a query or a body to break (a path string is any string)
        if len(op.query) or len(op.body):
            run_operation(op, GenerationMode.NEGATIVE, calls, failures)
    return calls, failures


@pytest.mark.parametrize("key", ["", "s3cret"], ids=["no key", "key"])
def test_schemathesis_finds_no_server_error_or_undocumented_status(
    fake_home: Path, key: str
) -> None:
    calls, failures = fuzz(fake_home, key)
    assert not failures, "\n".join(failures[:10])
    operations = {label for label, _ in calls}
    assert len(operations) >= 7, operations  # every operation was exercised
    statuses = {code for _, code in calls}
    assert not any(code >= 500 for code in statuses), calls
    assert 422 in statuses  # invalid requests were generated and refused
    if key:
        assert 401 in statuses
    print(f"schemathesis ({'key' if key else 'no key'}): {sum(calls.values())} calls", calls)
