"""The closing report: printed at the end of a run and written to bench/README.md."""

from __future__ import annotations

from pathlib import Path

from bench.common import Context, Table

README = Path(__file__).resolve().parent / "README.md"
NOTES = Path(__file__).resolve().parent / "notes.md"


def _fmt(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def ratio_table(context: Context) -> Table:
    table = Table(
        "Ratios against baselines (median of interleaved repetitions)",
        ["scenario", "figure", "subject", "baseline", "ratio", "goal", "met", "noise", "note"],
    )
    for r in context.ratios:
        table.rows.append(
            [
                r.scenario,
                r.name,
                f"{_fmt(r.subject_value)} {r.unit}",
                f"{_fmt(r.baseline_value)} {r.unit}",
                f"{r.ratio:.3g}",
                r.goal_text,
                "information" if r.information else "yes" if r.met else "**NO**",
                f"±{r.noise * 50:.0f}%",
                r.note,
            ]
        )
    return table


def check_table(context: Context) -> Table:
    table = Table("Checks", ["scenario", "check", "value", "goal", "met", "note"])
    for c in context.checks:
        table.rows.append(
            [c.scenario, c.name, c.value, c.goal, "yes" if c.met else "**NO**", c.note]
        )
    return table


def markdown(table: Table) -> str:
    lines = [f"### {table.title}", ""]
    if table.note:
        lines += [table.note, ""]
    lines.append("| " + " | ".join(table.columns) + " |")
    lines.append("|" + "|".join("---" for _ in table.columns) + "|")
    lines += [
        "| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in table.rows
    ]
    return "\n".join(lines) + "\n"


def text(table: Table) -> str:
    widths = [len(c) for c in table.columns]
    for row in table.rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip()

    out = [table.title, line(table.columns), line(["-" * w for w in widths])]
    out += [line(row) for row in table.rows]
    return "\n".join(out) + "\n"


def print_report(context: Context, header: list[str]) -> None:
    print()
    print("=" * 100)
    for line in header:
        print(line)
    print()
    for table in (ratio_table(context), check_table(context), *context.tables):
        print(text(table))
    for note in context.notes:
        print("note:", note)
    goals = [r for r in context.ratios if not r.information]
    met = sum(r.met for r in goals) + sum(c.met for c in context.checks)
    total = len(goals) + len(context.checks)
    print(f"\n{met} of {total} goals met")


def write_readme(context: Context, header: list[str], intro: str) -> None:
    parts = [intro, "## Last run", "", *[f"- {line}" for line in header], ""]
    parts += [markdown(ratio_table(context)), markdown(check_table(context))]
    parts += [markdown(table) for table in context.tables]
    if context.notes:
        parts += ["### Notes", "", *[f"- {note}" for note in context.notes], ""]
    if NOTES.exists():
        parts.append(NOTES.read_text())
    README.write_text("\n".join(parts))
