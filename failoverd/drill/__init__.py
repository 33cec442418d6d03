"""DR drills (runner.py) and their reports (report.py): JSON, Markdown, HTML with an SVG."""

from failoverd.drill.runner import DrillRunner, as_report

__all__ = ["DrillRunner", "as_report"]
