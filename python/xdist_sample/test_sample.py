"""A sample suite for comparing pytest-xdist on execnet and on execdeck: the outcome
counts of `pytest -n 4` must be the same through both (scripts/test.sh checks)."""

import sys
import time

import pytest


@pytest.mark.parametrize("n", range(200))
def test_arithmetic(n):
    assert (n * 3) // 3 == n


@pytest.mark.parametrize("n", range(40))
def test_prints(n, capsys):
    print("stdout line from test %d" % n)
    sys.stderr.write("stderr line from test %d\n" % n)
    out, err = capsys.readouterr()
    assert "test %d" % n in out and "test %d" % n in err


@pytest.mark.parametrize("n", range(20))
def test_prints_uncaptured_on_failure(n):
    print("this output is shown only if the test fails: %d" % n)
    assert n < 15  # 5 of these fail on purpose, with their output in the report


@pytest.mark.parametrize("n", range(10))
def test_slow(n):
    time.sleep(0.3)
    assert n >= 0


@pytest.mark.parametrize("n", range(10))
def test_fails_on_purpose(n):
    assert n == -1, "failing on purpose"


@pytest.mark.parametrize("n", range(20))
def test_skips(n):
    if n % 2:
        pytest.skip("skipped on purpose")


@pytest.mark.parametrize("n", range(10))
@pytest.mark.xfail(reason="expected to fail", strict=True)
def test_expected_failure(n):
    assert n < 0


@pytest.mark.parametrize("n", range(20))
def test_tmp_path(tmp_path, n):
    p = tmp_path / ("f%d.txt" % n)
    p.write_text("x" * n)
    assert p.read_text() == "x" * n


class TestGrouped:
    @pytest.mark.parametrize("word", ["alpha", "beta", "gamma", "delta", "epsilon"] * 4)
    def test_upper(self, word):
        assert word.upper().lower() == word

    def test_raises(self):
        with pytest.raises(ZeroDivisionError):
            1 / 0
