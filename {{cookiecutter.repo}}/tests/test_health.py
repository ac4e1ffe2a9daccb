"""Unit tests of fleet.health's retries: which failures are tried again, how often, with what between."""

import pytest

from fleet.release import health


def failing(errors):
    """An action that raises the given errors in turn, then returns "done"; and its call count."""
    calls = []

    def action():
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return "done"

    return action, calls


def test_a_flaky_step_is_tried_again_and_its_result_returned():
    action, calls = failing([health.HealthFailed("once")])
    assert health._retried(action, attempts=3, pause=0) == "done"
    assert len(calls) == 2


def test_a_step_failing_every_time_is_tried_a_bounded_number_of_times_then_fails():
    action, calls = failing([health.HealthFailed(f"try {n}") for n in range(5)])
    with pytest.raises(health.HealthFailed, match="try 2"):
        health._retried(action, attempts=3, pause=0)
    assert len(calls) == 3


def test_a_hopeless_failure_is_not_tried_again():
    action, calls = failing([health.Hopeless("ErrImagePull"), health.HealthFailed("later")])
    with pytest.raises(health.Hopeless, match="ErrImagePull"):
        health._retried(action, attempts=3, pause=0)
    assert len(calls) == 1


def test_the_cleanup_runs_between_attempts_only():
    cleanups = []
    action, calls = failing([health.HealthFailed("a"), health.HealthFailed("b")])
    assert health._retried(action, 3, 0, before_retry=lambda: cleanups.append(len(calls))) == "done"
    assert cleanups == [1, 2]
