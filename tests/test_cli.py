"""`failoverd status` in the terminal: the same facts as the page, at a glance."""

from __future__ import annotations

from failoverd.app.cli import _print_status

STATUS = {
    "leader": True,
    "services": {
        "webapp": {
            "state": "standby_active",
            "active": "standby",
            "mode": "warm",
            "blocked": None,
            "ready": {"primary": False, "standby": True},
            "last_round_age_seconds": 0.412,
            "probes": {
                "primary": [
                    {"probe": "http", "ok": False, "latency": 0.3, "reason": "connect: refused"}
                ],
                "standby": [
                    {"probe": "http", "ok": True, "latency": 0.002, "reason": "HTTP 200"},
                    {"probe": "kubernetes", "ok": True, "latency": 0.01, "reason": "ok"},
                ],
            },
            "replication": {
                "jobs": {"db": {"age_seconds": 12.4}},
                "rpo_seconds": 12.4,
                "rpo_objective_seconds": 30.0,
                "warning": None,
            },
            "plan": None,
            "last_failover": {
                "kind": "failover",
                "result": "success",
                "trigger": "auto",
                "rto_seconds": 1.521175,
                "finished": 1000.0,
            },
        },
        "api": {
            "state": "blocked",
            "active": "primary",
            "mode": "hot",
            "blocked": "standby_not_ready",
            "ready": {"primary": False, "standby": False},
            "last_round_age_seconds": None,
            "probes": {"primary": [], "standby": []},
            "replication": {},
            "plan": None,
            "last_failover": None,
        },
    },
}


def test_status_shows_each_service_with_rounded_figures(capsys):
    _print_status(STATUS, now=1000.0 + 125)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "leader"
    assert lines[1].split()[:9] == [
        "SERVICE",
        "STATE",
        "ACTIVE",
        "MODE",
        "PRIMARY",
        "STANDBY",
        "ROUND",
        "RPO/OBJ",
        "LAST",
    ]
    api, web = lines[2], lines[3]
    assert api.startswith("api ") and "blocked (standby_not_ready)" in api
    assert web.startswith("webapp ") and "standby_active" in web
    assert "0/1 FAIL" in web and "2/2 ok ready" in web and "412ms" in web
    assert "12s/30s" in web and "failover success (auto) RTO 1.5s, 2m ago" in web
    assert "1.521175" not in web


def test_a_follower_says_so(capsys):
    _print_status({**STATUS, "leader": False}, now=2000.0)
    assert capsys.readouterr().out.startswith("follower")
