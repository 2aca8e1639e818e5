"""What people read: grades.csv, checks.csv, one feedback page per student, a class summary."""

from __future__ import annotations

import csv
import html
from collections import Counter, defaultdict
from pathlib import Path

from grader.labs import Lab

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}
.pass{{color:#1a7f37}}.fail{{color:#c62828}}.note{{background:#fff8e1;padding:.5em 1em}}
.pair td{{vertical-align:top;width:50%}}.pair pre{{font-size:.8em;white-space:pre-wrap;margin:0}}
mark{{background:#ffd54f}}</style></head>
<body>{body}</body></html>"""


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def feedback_html(result: dict) -> str:
    """A student's feedback: status, score per question, and each failed check with its reason.

    Contains only check names and their student-facing messages: never hidden code or inputs.
    """
    esc = html.escape
    parts = [f"<h1>Feedback: {esc(result['lab'])}</h1>",
             f"<p>Student: <b>{esc(result['student'])}</b> &middot; status: <b>{esc(result['status'])}</b>"
             f" &middot; autograded score: <b>{result['score']:g} / {result['max_score']:g}</b></p>"]
    if result["reasons"]:
        parts.append('<div class="note"><p>What the grader noticed:</p><ul>'
                     + "".join(f"<li>{esc(r)}</li>" for r in result["reasons"]) + "</ul></div>")
    questions = defaultdict(lambda: [0.0, 0.0])
    for check in result["checks"]:
        questions[check["question"]][0] += check["points"]
        questions[check["question"]][1] += check["max_points"]
    parts.append("<h2>Questions</h2>" + _table(
        ["question", "points"], [[esc(q), f"{got:g} / {most:g}"] for q, (got, most) in questions.items()]))
    rows = [[esc(c["question"]), esc(c["check"].replace("_", " ")),
             '<span class="pass">passed</span>' if c["passed"] else '<span class="fail">failed</span>',
             f"{c['points']:g} / {c['max_points']:g}", "" if c["passed"] else esc(c["message"])]
            for c in result["checks"]]
    parts.append("<h2>Checks</h2>" + _table(["question", "check", "result", "points", "why"], rows))
    parts.append("<p>Written answers are graded by hand and are not included in the score above.</p>")
    return PAGE.format(title=f"Feedback {esc(result['lab'])}", body="".join(parts))


def write_feedback(course: Path, lab: Lab, result: dict) -> Path:
    path = course / "feedback" / result["student"] / lab.name / lab.notebook_name.replace(".ipynb", ".html")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(feedback_html(result))
    return path


def write_tables(course: Path, results: list[dict]) -> tuple[Path, Path]:
    """``grades.csv`` (one row per student) and ``checks.csv`` (one row per student and check)."""
    grades, checks = course / "grades.csv", course / "checks.csv"
    with open(grades, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student_id", "lab", "status", "score", "max_score", "reason"])
        for r in results:
            writer.writerow([r["student"], r["lab"], r["status"], f"{r['score']:g}", f"{r['max_score']:g}",
                             "; ".join(r["reasons"])])
    with open(checks, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "lab", "check", "points", "max_points", "passed", "message"])
        for r in results:
            for c in r["checks"]:
                writer.writerow([r["student"], r["lab"], c["check"], f"{c['points']:g}", f"{c['max_points']:g}",
                                 c["passed"], c["message"]])
    return grades, checks


def mean_timings(results: list[dict]) -> dict[str, float]:
    """Mean seconds per submission for each part of grading (:data:`grader.pipeline.TIMED_PARTS`) and in all
    (``total``), over the results that recorded them (results saved by older versions did not)."""
    from grader.pipeline import TIMED_PARTS

    timed = [r for r in results if r.get("timings")]
    if not timed:
        return {}
    means = {part: sum(r["timings"][part] for r in timed) / len(timed) for part in TIMED_PARTS}
    return {**means, "total": sum(r["seconds"] for r in timed) / len(timed)}


def timings_text(results: list[dict]) -> str:
    """The mean timings in one line (``kernel start 0.52, student cells 23.75, ...``); empty without timings."""
    return ", ".join(f"{part.replace('_', ' ')} {seconds:.2f}" for part, seconds in mean_timings(results).items())


def timings_html(results: list[dict]) -> str:
    """Where grading time went: mean seconds per submission for each part, and its share."""
    means = mean_timings(results)
    if not means:
        return ""
    total = means["total"] or 1.0
    rows = [[html.escape(part.replace("_", " ")), f"{seconds:.2f}", f"{seconds / total:.0%}"]
            for part, seconds in means.items()]
    timed = sum(bool(r.get("timings")) for r in results)
    return (f"<h2>Where the time went</h2><p>Mean over {timed} submissions, on the worker that graded each.</p>"
            + _table(["part", "seconds per submission", "share"], rows))


def similarity_html(pairs: list, threshold: float) -> str:
    """The similarity section: flagged pairs (:class:`grader.similarity.Pair`), matching code side by side."""
    intro = (f"<h2>Similar submissions</h2><p>Pairs whose answer code (starter code discounted, names ignored) "
             f"shares at least {threshold:.0%} of one student's own code. This is for a person to judge: "
             "independent answers to short exercises can look alike, and no grade was changed.</p>")
    if not pairs:
        return intro + "<p>No pair passed the threshold.</p>"
    esc = html.escape
    rows = [[esc(p.first), esc(p.second), f"{p.share[0]:.0%}", f"{p.share[1]:.0%}"] for p in pairs]
    details = "".join(
        f"<details><summary>{esc(p.first)} and {esc(p.second)}</summary><table class=\"pair\"><tr>"
        f"<th>{esc(p.first)}</th><th>{esc(p.second)}</th></tr><tr><td><pre>{p.first_html}</pre></td>"
        f"<td><pre>{p.second_html}</pre></td></tr></table></details>" for p in pairs)
    return intro + _table(["student", "student", "shared (first)", "shared (second)"], rows) + details


def write_similarity(course: Path, lab: Lab, students: list[str], threshold: float) -> list:
    """Compare ``students``' answer code; write ``report/<lab>/similarity.csv``; return the flagged pairs."""
    from grader.similarity import course_pairs

    pairs = course_pairs(course, lab, students, threshold)
    folder = course / "report" / lab.name
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "similarity.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student_a", "student_b", "shared_a", "shared_b"])
        writer.writerows([p.first, p.second, f"{p.share[0]:.3f}", f"{p.share[1]:.3f}"] for p in pairs)
    return pairs


def write_summary(course: Path, lab: Lab, results: list[dict], similarity_threshold: float | None = None,
                  similar: list | None = None) -> Path:
    """Score histogram and per-check pass rates as PNGs, and a one-page HTML report with the similar pairs
    (``similar``, else computed by :mod:`grader.similarity` at ``similarity_threshold`` or its default)."""
    import matplotlib

    from grader.similarity import THRESHOLD

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    threshold = THRESHOLD if similarity_threshold is None else similarity_threshold
    folder = course / "report" / lab.name
    folder.mkdir(parents=True, exist_ok=True)
    scores = [r["score"] for r in results]
    top = max((r["max_score"] for r in results), default=0) or 1
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.hist(scores, bins=min(20, max(5, len(scores))), range=(0, top), color="#4c72b0", edgecolor="white")
    ax.set(title=f"{lab.name}: autograded scores (n={len(scores)})", xlabel=f"score (max {top:g})",
           ylabel="students")
    fig.tight_layout()
    fig.savefig(folder / "scores.png", dpi=110)
    plt.close(fig)
    passed, total = Counter(), Counter()
    for r in results:
        for c in r["checks"]:
            total[c["check"]] += 1
            passed[c["check"]] += bool(c["passed"])
    names = sorted(total)
    rates = [passed[n] / total[n] for n in names]
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(names) + 1.2))
    ax.barh(names, rates, color="#55a868")
    ax.set(xlim=(0, 1), xlabel="share of students passing", title="hidden checks")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(folder / "checks.png", dpi=110)
    plt.close(fig)
    statuses = Counter(r["status"] for r in results)
    mean = sum(scores) / len(scores) if scores else 0.0
    body = (f"<h1>{html.escape(lab.name)}: class summary</h1>"
            f"<p>{len(results)} submissions &middot; mean autograded score {mean:.2f} / {top:g}</p>"
            + _table(["status", "students"], [[html.escape(s), str(n)] for s, n in statuses.most_common()])
            + '<img src="scores.png" alt="score distribution"><img src="checks.png" alt="check pass rates">'
            + _table(["check", "pass rate"], [[html.escape(n), f"{passed[n]}/{total[n]}"] for n in names])
            + _table(["student", "status", "score", "seconds", "reason"],
                     [[html.escape(r["student"]), html.escape(r["status"]), f"{r['score']:g}",
                       f"{r['seconds']:.1f}" if "seconds" in r else "", html.escape("; ".join(r["reasons"]))]
                      for r in results])
            + timings_html(results)
            + similarity_html(write_similarity(course, lab, [r["student"] for r in results], threshold)
                              if similar is None else similar, threshold))
    page = folder / "report.html"
    page.write_text(PAGE.format(title=f"{lab.name} summary", body=body))
    return page
