"""Checks a run of execnet's own test suite through the switch against the list of
tests known not to pass (python/compat/execnet-2.1.2-not-passing.txt).

    python check_suite.py JUNIT.xml LIST.txt

Fails (exit 1) when a test fails or errors that the list does not name. Prints the
counts and the pass percentage over the tests that ran (skips excluded)."""

import sys
import xml.etree.ElementTree as ET


def outcomes(junit_path):
    """{nodeid: outcome} with outcome one of passed, failed, error, skipped, xfailed,
    xpassed (pytest's junit records xfail as skipped with type pytest.xfail)."""
    out = {}
    for case in ET.parse(junit_path).getroot().iter("testcase"):
        cls = case.get("classname", "")
        name = case.get("name", "")
        parts = cls.split(".")
        # classname is "testing.test_channel.TestChannelFile" -> file + class
        path = "/".join(parts[:2]) + ".py"
        nodeid = "::".join([path] + parts[2:] + [name])
        kinds = [child.tag for child in case]
        if "failure" in kinds:
            outcome = "failed"
        elif "error" in kinds:
            outcome = "error"
        elif "skipped" in kinds:
            skipped = case.find("skipped")
            outcome = "xfailed" if skipped.get("type") == "pytest.xfail" else "skipped"
        else:
            outcome = "passed"
        # a test can be reported twice (failure in call, error in teardown): worst wins
        if out.get(nodeid) in ("failed", "error"):
            continue
        out[nodeid] = outcome
    return out


def known(list_path):
    names = {}
    with open(list_path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            nodeid, _, reason = line.partition(" | ")
            names[nodeid.strip()] = reason.strip()
    return names


def main(junit_path, list_path):
    res = outcomes(junit_path)
    listed = known(list_path)
    counts = {}
    for o in res.values():
        counts[o] = counts.get(o, 0) + 1
    ran = sum(n for o, n in counts.items() if o != "skipped")
    passed = counts.get("passed", 0)
    bad = sorted(n for n, o in res.items() if o in ("failed", "error"))
    new = [n for n in bad if n not in listed]
    fixed = sorted(n for n in listed if res.get(n) == "passed")
    print("execnet 2.1.2 suite through execdeck: %s" % ", ".join("%d %s" % (n, o) for o, n in sorted(counts.items())))
    print("passed %d of %d tests that ran (skips excluded): %.1f %%" % (passed, ran, 100.0 * passed / max(ran, 1)))
    print("listed as not passing: %d; of them passing now: %d" % (len(listed), len(fixed)))
    for n in fixed:
        print("  now passes (remove it from the list if it stays so): %s" % n)
    if new:
        print("NEW failures, not in %s:" % list_path)
        for n in new:
            print("  %s (%s)" % (n, res[n]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
