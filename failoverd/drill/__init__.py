"""DR drills: the runner (runner.py), the daemon's desk (desk.py), the reports (report.py)."""

from failoverd.drill.desk import DrillDesk
from failoverd.drill.runner import DrillRunner, as_report

__all__ = ["DrillDesk", "DrillRunner", "as_report"]
