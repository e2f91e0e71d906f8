#!/usr/bin/python3
"""Parses a scraped ssl_session_redis_status page with the Python
Prometheus client's own parser and checks values the test knows.

Usage: test_promtool.py PAGE VERSION STREAM_SERVER

Exits 0 when every check holds, 1 with the failed checks on stderr,
77 when prometheus_client is not installed.
"""

import sys

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    sys.stderr.write("python3-prometheus-client is not installed\n")
    sys.exit(77)


def main():
    page, version, stream_server = sys.argv[1:4]

    with open(page, encoding="utf-8") as f:
        text = f.read()

    families = {}
    for family in text_string_to_metric_families(text):
        families[family.name] = family

    failed = []

    def sample(family, name, **labels):
        if family not in families:
            return None
        for s in families[family].samples:
            if s.name == name and all(s.labels.get(k) == v
                                      for k, v in labels.items()):
                return s
        return None

    def check(what, ok):
        if not ok:
            failed.append(what)

    # the client strips "_total" from a counter family's name
    lookups = "ssl_session_redis_lookups"

    s = sample("ssl_session_redis_build_info",
               "ssl_session_redis_build_info")
    check("build_info is 1", s is not None and s.value == 1)
    check("build_info version", s is not None
          and s.labels.get("version") == version)
    check("build_info nginx and openssl", s is not None
          and s.labels.get("nginx") and s.labels.get("openssl"))

    for subsystem, server, outcome, n in (
            ("http", "ids.test", "none", 1),
            ("http", "ids.test", "hit", 1),
            ("http", "tickets.test", "none", 2),
            ("stream", stream_server, "none", 1),
            ("stream", stream_server, "hit", 1)):
        s = sample(lookups, lookups + "_total", subsystem=subsystem,
                   server=server, outcome=outcome)
        check("%s %s %s is %d (%s)" % (subsystem, server, outcome, n,
                                        s.value if s else "absent"),
              s is not None and s.value == n)

    s = sample("ssl_session_redis_tickets", "ssl_session_redis_tickets_total",
               subsystem="http", event="decrypted")
    check("a fleet ticket decrypted", s is not None and s.value >= 1)

    for subsystem in ("http", "stream"):
        s = sample("ssl_session_redis_connections",
                   "ssl_session_redis_connections", subsystem=subsystem,
                   state="up")
        check("%s connections up is 1" % subsystem,
              s is not None and s.value == 1)

    # the histogram: buckets cumulative, the last finite one at the
    # deadline (1 s here), +Inf equal to _count, the lookup counted
    fam = families.get("ssl_session_redis_latency_seconds")
    check("latency histogram present",
          fam is not None and fam.type == "histogram")
    if fam is not None:
        bounds = [s.labels["le"] for s in fam.samples
                  if s.name.endswith("_bucket")
                  and s.labels["subsystem"] == "http"]
        counts = [s.value for s in fam.samples
                  if s.name.endswith("_bucket")
                  and s.labels["subsystem"] == "http"]
        count = sample("ssl_session_redis_latency_seconds",
                       "ssl_session_redis_latency_seconds_count",
                       subsystem="http")
        check("latency bounds %s" % bounds,
              bounds[:2] == ["5e-05", "0.0001"] and bounds[-2] == "1"
              and bounds[-1] == "+Inf")
        check("latency cumulative", counts == sorted(counts))
        check("latency count", count is not None and count.value >= 1
              and count.value == counts[-1])

    age = sample("ssl_session_redis_ticket_key_age_seconds",
                 "ssl_session_redis_ticket_key_age_seconds",
                 subsystem="http")
    left = sample("ssl_session_redis_ticket_issue_left_seconds",
                  "ssl_session_redis_ticket_issue_left_seconds",
                  subsystem="http")
    check("ticket key age", age is not None and 0 <= age.value < 120)
    check("ticket issue left", left is not None and left.value > 0)

    for what in failed:
        sys.stderr.write("check failed: %s\n" % what)

    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
