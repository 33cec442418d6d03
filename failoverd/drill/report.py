"""A drill's report in three forms: JSON (the record), Markdown, and one HTML page with an SVG.

The report is a plain dict (the drill record as `/v1/drills/ID` serves it, schema
`failoverd-drill-report/1`); these functions only format it, so the CLI writes the files
without the daemon and a test can render any report.
"""

from __future__ import annotations

import html
import json
import time
from typing import Any

SCHEMA = "failoverd-drill-report/1"
VERDICT = {
    "passed": "PASSED",
    "failed": "FAILED",
    "interrupted": "INTERRUPTED",
    "blocked": "BLOCKED",
    "running": "RUNNING",
}


def _when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(t)) if t else "-"


def _s(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.1f} s"


def as_json(report: dict[str, Any]) -> str:
    return json.dumps({"schema": SCHEMA, **report}, indent=2, sort_keys=True, default=str)


def headline(r: dict[str, Any]) -> str:
    """One line: the verdict first, then the figures against the objectives."""
    obj = r.get("objectives") or {}
    bits = [f"{VERDICT.get(r['outcome'], r['outcome'])}: {r['kind']} drill of {r['service']}"]
    if r.get("rto_seconds") is not None:
        bits.append(f"RTO {_s(r['rto_seconds'])} (objective {_s(obj.get('rto'))})")
    if r.get("failback_rto_seconds") is not None:
        bits.append(f"failback RTO {_s(r['failback_rto_seconds'])}")
    if r.get("projected_rto_seconds") is not None:
        bits.append(
            f"projected RTO {_s(r['projected_rto_seconds'])} (objective {_s(obj.get('rto'))})"
        )
    if r.get("rpo_seconds") is not None:
        bits.append(f"RPO {_s(r['rpo_seconds'])} (objective {_s(obj.get('rpo'))})")
    return ", ".join(bits)


def as_markdown(r: dict[str, Any]) -> str:
    lines = [f"# {headline(r)}", ""]
    if r.get("error"):
        lines += [f"**Why:** {r['error']}", ""]
    lines += [
        f"- drill `{r['id']}`, started {_when(r.get('started'))}, finished "
        f"{_when(r.get('finished'))}",
        f"- reason: {r.get('reason') or '-'}",
        "",
        "| check | result | duration | detail |",
        "|---|---|---|---|",
    ]
    for c in r.get("checks", []):
        detail = str(c.get("detail") or "").replace("|", "\\|").replace("\n", " ")
        lines.append(
            f"| {c['name']} | {'pass' if c['ok'] else '**FAIL**'} | "
            f"{_s(c.get('duration_seconds'))} | {detail} |"
        )
    return "\n".join(lines) + "\n"


def _svg(r: dict[str, Any]) -> str:
    """A bar per check on a time axis; the objective RTO and the achieved/projected RTO as lines."""
    checks = r.get("checks", [])
    t0: float = min((c.get("started") or r["started"] for c in checks), default=r["started"])
    ends = [(c.get("started") or t0) + (c.get("duration_seconds") or 0) for c in checks]
    rto = r.get("rto_seconds") or r.get("projected_rto_seconds")
    objective = (r.get("objectives") or {}).get("rto")
    span = float(max([*(e - t0 for e in ends), rto or 0, objective or 0, 1.0])) * 1.08
    width, left, row = 900, 210, 26
    height = 40 + row * len(checks) + 30

    def x(sec: float) -> float:
        return left + (width - left - 20) * sec / span

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">'
    ]
    for i in range(6):  # the axis
        sec = span * i / 5
        out.append(
            f'<line x1="{x(sec):.1f}" y1="30" x2="{x(sec):.1f}" y2="{height - 24}" stroke="#d0d7de"/>'
            f'<text x="{x(sec):.1f}" y="{height - 8}" text-anchor="middle" fill="#57606a">{sec:.1f}s</text>'
        )
    for i, c in enumerate(checks):
        y = 36 + i * row
        start = (c.get("started") or t0) - t0
        w = max(2.0, x(start + (c.get("duration_seconds") or 0)) - x(start))
        colour = "#1a7f37" if c["ok"] else "#cf222e"
        out.append(
            f'<text x="{left - 8}" y="{y + 14}" text-anchor="end">{html.escape(c["name"])}</text>'
            f'<rect x="{x(start):.1f}" y="{y}" width="{w:.1f}" height="18" rx="3" fill="{colour}">'
            f"<title>{html.escape(c['name'])}: {_s(c.get('duration_seconds'))}</title></rect>"
        )
    for value, label, colour in (
        (objective, "objective RTO", "#9a6700"),
        (rto, "RTO" if r.get("rto_seconds") else "projected RTO", "#0969da"),
    ):
        if value:
            near_end = x(value) > width - 160  # keep the label inside the picture
            anchor, tx = ("end", x(value) - 4) if near_end else ("start", x(value) + 4)
            out.append(
                f'<line x1="{x(value):.1f}" y1="24" x2="{x(value):.1f}" y2="{height - 24}" '
                f'stroke="{colour}" stroke-width="2" stroke-dasharray="6 3"/>'
                f'<text x="{tx:.1f}" y="20" text-anchor="{anchor}" fill="{colour}">'
                f"{label} {_s(value)}</text>"
            )
    out.append("</svg>")
    return "".join(out)


def as_html(r: dict[str, Any]) -> str:
    colour = {"passed": "#1a7f37", "failed": "#cf222e", "interrupted": "#9a6700"}.get(
        r["outcome"], "#6e7781"
    )
    rows = "".join(
        f"<tr><td>{html.escape(c['name'])}</td><td class={'ok' if c['ok'] else 'bad'}>"
        f"{'pass' if c['ok'] else 'FAIL'}</td><td>{_s(c.get('duration_seconds'))}</td>"
        f"<td>{html.escape(str(c.get('detail') or ''))}</td></tr>"
        for c in r.get("checks", [])
    )
    why = f"<p class=bad>{html.escape(r['error'])}</p>" if r.get("error") else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(headline(r))}</title>
<style>body{{font:14px/1.45 system-ui,sans-serif;margin:1.5rem;color:#1f2328}}
h1{{font-size:1.3rem;border-left:.5rem solid {colour};padding-left:.6rem}}
table{{border-collapse:collapse}}td,th{{text-align:left;padding:.2rem .6rem;border-bottom:1px solid #d0d7de}}
.ok{{color:#1a7f37;font-weight:600}}.bad{{color:#cf222e;font-weight:600}}.muted{{color:#57606a}}</style>
</head><body>
<h1>{html.escape(headline(r))}</h1>{why}
<p class=muted>drill {html.escape(r["id"])} · started {_when(r.get("started"))} · finished {_when(r.get("finished"))} · reason: {html.escape(r.get("reason") or "-")}</p>
{_svg(r)}
<table><thead><tr><th>check</th><th>result</th><th>duration</th><th>detail</th></tr></thead><tbody>{rows}</tbody></table>
</body></html>
"""
