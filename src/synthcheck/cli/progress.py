"""Progress for piped output: rich draws no live bar when stderr is not a terminal (logs, CI), so long
commands would be silent for minutes. :class:`PlainProgressLines` prints one plain line per tenth of a task
instead; on a terminal it prints nothing and the live bar does the job."""

from __future__ import annotations

from rich.console import Console
from rich.progress import Progress, TaskID


class PlainProgressLines:
    """Prints ``label: NN %`` (plus an optional status) each time a task passes another 10 %."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._reported: dict[str, int] = {}

    def update(self, label: str, completed: float, total: float | None, status: str = "") -> None:
        """Report ``completed`` of ``total`` for the task ``label`` (no-op on a terminal)."""
        if self.console.is_terminal or not total:
            return
        decile = min(10, int(10 * completed / total))
        if self._reported.get(label, -1) < decile:
            self._reported[label] = decile
            suffix = f"  {status}" if status else ""
            self.console.print(f"{label}: {100 * completed / total:.0f} %{suffix}", highlight=False)


class SourceStageBars:
    """``progress(source, stage, done, total)`` of the multi-source commands (``evaluate-detectors``,
    ``robustness``): one bar (and one plain-line task) per source and stage, labelled ``"<source>: <what>"``.

    ``labels`` names the stages; others are named ``other``.
    """

    def __init__(self, bar: Progress, lines: PlainProgressLines, labels: dict[str, str], other: str) -> None:
        self.bar, self.lines, self.labels, self.other = bar, lines, labels, other
        self._tasks: dict[str, TaskID] = {}

    def __call__(self, source: str, stage: str, done: float, total: float) -> None:
        label = f"{source}: {self.labels.get(stage, self.other)}"
        if label not in self._tasks:
            self._tasks[label] = self.bar.add_task(label, total=total)
        self.bar.update(self._tasks[label], completed=done, total=total)
        self.lines.update(label, done, total)
