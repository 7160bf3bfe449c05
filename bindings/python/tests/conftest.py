import os

import pytest

import callmeter


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "costs.db")


@pytest.fixture
def meter(db):
    with callmeter.Meter(db) as m:
        yield m


def require(module: str):
    """Imports a framework the tests need. Missing, the test fails under CI (CI=true) and is skipped
    loudly elsewhere: a test that cannot run says so."""
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as e:
        if os.environ.get("CI"):
            pytest.fail(f"{module} is not installed, and CI must run this test: {e}")
        pytest.skip(f"NOT RUN: {module} is not installed ({e})")
