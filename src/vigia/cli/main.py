"""The ``vigia`` command: a Typer app whose commands live one per module."""

from __future__ import annotations

import sys

import typer

from vigia import __version__
from vigia.cli import audit as audit_cli
from vigia.cli import (
    db,
    demo,
    detect,
    evaluate,
    ingest,
    metrics,
    org,
    outcome,
    plan,
    release,
    review,
    scenario,
    serve,
    simulate,
    site,
    sortie,
    token,
    user,
)
from vigia.errors import VigiaError
from vigia.memory import tune_for_arrays

__all__ = ["app", "run"]

app = typer.Typer(
    name="vigia",
    help="Vigía: plan, sense, detect, review and share aerial surveillance of drug-production "
    "sites. Watches places, not people.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("plan")(plan.plan_command)
app.command("demo")(demo.demo_command)
app.command("simulate")(simulate.simulate_command)
app.command("detect")(detect.detect_command)
app.command("evaluate")(evaluate.evaluate_command)
app.add_typer(scenario.app, name="scenario")
app.command("ingest")(ingest.ingest_command)
app.add_typer(site.app, name="site")
app.add_typer(review.app, name="review")
app.add_typer(db.app, name="db")
app.add_typer(org.app, name="org")
app.add_typer(user.app, name="user")
app.add_typer(token.app, name="token")
app.add_typer(audit_cli.app, name="audit")
app.add_typer(release.app, name="release")
app.add_typer(sortie.app, name="sortie")
app.add_typer(outcome.app, name="outcome")
app.command("serve")(serve.serve_command)
app.command("metrics")(metrics.metrics_command)


@app.command("version")
def version_command() -> None:
    """Print the version."""
    typer.echo(__version__)


def run() -> None:
    """Entry point: run the app, turning any VigiaError into one line on stderr."""
    tune_for_arrays()  # cube-sized arrays: reuse freed heap, ordinary pages (see vigia.memory)
    try:
        app()
    except VigiaError as exc:
        message = " ".join(str(exc).split())
        sys.stderr.write(f"vigia: error: {message}\n")
        raise SystemExit(exc.exit_code) from None


if __name__ == "__main__":
    run()
