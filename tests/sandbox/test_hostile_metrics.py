"""A hostile metrics.json (nested 100 000 deep, huge, NaN, not an object, too many keys) fails the run.

Before, a metrics.json nested 100 000 deep ended in an uncaught RecursionError inside the JSON
parser: the job ended as an ``internal error`` and its experiment record stayed ``running``.
"""

from __future__ import annotations

import pytest

from sandbox.metrics import METRICS_MAX_BYTES, METRICS_MAX_DEPTH, METRICS_MAX_KEYS, parse_metrics
from tests.sandbox.conftest import RunExperiment

DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(("raw", "reason"), [
    (DEEP, f"nested more than {METRICS_MAX_DEPTH} levels deep"),
    (b'{"a":' * 100_000, f"nested more than {METRICS_MAX_DEPTH} levels deep"),
    (b'{"score": 1, "deep": ' + b"{" * 50 + b"}" * 50 + b"}", f"nested more than {METRICS_MAX_DEPTH} levels"),
    (b'{"score": "' + b"[" * 100_000 + b'"}', "'score' is '[[[["),  # brackets in a string do not nest
    (b" " * (METRICS_MAX_BYTES + 1), f"larger than {METRICS_MAX_BYTES} bytes"),
    (b'{"score": NaN}', "NaN is not a finite number"),
    (b'{"score": 0.5, "loss": -Infinity}', "-Infinity is not a finite number"),
    (b'{"score": 1e999}', "the metric 'score' is inf, not a finite number"),
    (b'{"score": 0.5, "big": ' + b"9" * 400 + b"}", "'big' is inf, not a finite number"),
    (b'{"score": ' + b"9" * 5000 + b"}", "the metric 'score' is inf"),
    (b"[0.5]", "must be a JSON object of numbers, got list"),
    (b'"0.5"', "must be a JSON object of numbers, got str"),
    (b'{"score": true}', "'score' is True, not a number"),
    (b'{"score": null}', "'score' is None, not a number"),
    (b"{" + b",".join(b'"k%d": 1' % i for i in range(METRICS_MAX_KEYS + 1)) + b"}",
     f"has {METRICS_MAX_KEYS + 1} keys, more than {METRICS_MAX_KEYS}"),
    (b'{"score": 0.5, "' + b"k" * 300 + b'": 1}', "is longer than 200 characters"),
    (b'{"score": 0.5, "\\u001b]0;pwned\\u0007": 1}', "contains control characters"),
    (b"\xff\xfe{", "not valid JSON"),
])
def test_hostile_metrics_are_refused_with_the_reason(raw: bytes, reason: str) -> None:
    metrics, error = parse_metrics(raw, "score")

    assert error is not None and reason in error, error
    assert metrics == {}


def test_a_flat_object_of_numbers_still_parses() -> None:
    assert parse_metrics(b'{"score": 0.5, "n": 3, "loss": -1e-3}', "score") == (
        {"score": 0.5, "n": 3.0, "loss": -0.001}, None)


@pytest.mark.docker
def test_a_metrics_file_nested_100000_deep_fails_the_run(run_experiment: RunExperiment) -> None:
    result = run_experiment(
        """
        import os
        with open(os.path.join(os.environ["LABLOOP_OUTPUT"], "metrics.json"), "w") as f:
            f.write("[" * 100_000 + "]" * 100_000)
        print("wrote it")
        """,
        metric="accuracy",
    )

    assert result.status == "failed" and result.exit_code == 0
    assert result.error is not None and f"nested more than {METRICS_MAX_DEPTH} levels deep" in result.error
    assert "metrics.json" in result.error and result.metrics == {}
    assert result.stdout_tail == "wrote it\n"


@pytest.mark.docker
def test_a_metrics_file_of_nan_and_huge_numbers_fails_the_run(run_experiment: RunExperiment) -> None:
    result = run_experiment(
        """
        import os
        with open(os.path.join(os.environ["LABLOOP_OUTPUT"], "metrics.json"), "w") as f:
            f.write('{"accuracy": 0.9, "loss": NaN, "n": ' + "9" * 4000 + "}")
        """,
        metric="accuracy",
    )

    assert result.status == "failed"
    assert result.error is not None and "NaN is not a finite number" in result.error
