"""Reports of experiment runs: figures (:mod:`.plots`) and the self-contained HTML page (:mod:`.html`)."""

from synthcheck.report.html import REPORT_NAME, render_report, write_report

__all__ = ["REPORT_NAME", "render_report", "write_report"]
