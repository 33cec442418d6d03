"""A drill's report, rendered: verdict first, a table, one self-contained HTML page with an SVG."""

from __future__ import annotations

import json

from failoverd.drill import report

R = {
    "id": "3f9a1c2b7d10",
    "service": "webapp",
    "kind": "full",
    "reason": "weekly | drill",
    "started": 1_000.0,
    "finished": 1_041.0,
    "outcome": "failed",
    "error": "the drill's failback failed",
    "objectives": {"rto": 60.0, "rpo": 30.0},
    "rto_seconds": 7.4,
    "failback_rto_seconds": None,
    "projected_rto_seconds": None,
    "rpo_seconds": 12.3,
    "checks": [
        {
            "name": "failover (plan p1)",
            "ok": True,
            "started": 1_000.0,
            "duration_seconds": 1.9,
            "detail": "RTO 7.4s",
        },
        {
            "name": "soak on the standby",
            "ok": True,
            "started": 1_002.0,
            "duration_seconds": 30.0,
            "detail": "30s",
        },
        {
            "name": "failback (plan p2)",
            "ok": False,
            "started": 1_032.0,
            "duration_seconds": 2.1,
            "detail": "verify: <script>alert(1)</script> | pipes",
        },
    ],
}


def test_the_headline_gives_the_verdict_first_and_the_figures_against_the_objectives():
    assert report.headline(R) == (
        "FAILED: full drill of webapp, RTO 7.4 s (objective 60.0 s), RPO 12.3 s (objective 30.0 s)"
    )


def test_markdown_has_the_verdict_the_why_and_one_row_per_check():
    md = report.as_markdown(R)
    assert md.startswith("# FAILED: full drill of webapp")
    assert "**Why:** the drill's failback failed" in md
    rows = [line for line in md.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == 3 and "**FAIL**" in rows[2] and "\\| pipes" in rows[2]


def test_json_is_versioned_and_complete():
    doc = json.loads(report.as_json(R))
    assert doc["schema"] == report.SCHEMA and doc["checks"] == R["checks"]


def test_html_is_self_contained_escapes_details_and_draws_a_bar_per_check():
    page = report.as_html(R)
    assert "<script" not in page.replace("&lt;script&gt;", "") and "&lt;script&gt;" in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    svg = page[page.index("<svg") : page.index("</svg>")]
    assert svg.count("<rect") == 3 and svg.count('fill="#cf222e"') == 1, "the failed step is red"
    assert "objective RTO 60.0 s" in svg and "RTO 7.4 s" in svg
