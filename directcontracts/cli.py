"""Command-line tools: ``flask --app app <command>``."""
from __future__ import annotations

import time

import click
from flask import Flask

from .extensions import db
from .services import accounts, backup, funding, gateway_audit, health, jobs, ledger, ledger_days, mailer, refunds
from .services.errors import ValidationFailed

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "tulip-harbor-escrow"  # passes the password rules (domain/passwords.py), as any new one must


def register(app: Flask) -> None:
    @app.cli.command("create-member")
    @click.argument("email")
    @click.option("--name", required=True, help="The member's name, as clients will see it.")
    @click.option("--password", required=True, help="At least 10 characters; not a common password, a sequence, or the name or email.")
    @click.option("--owner", is_flag=True, help="Make this member the shop owner.")
    def create_member(email, name, password, owner):
        """Create a member of the shop (the first one should be the --owner)."""
        try:
            member = accounts.create_member(email, name, password, owner=owner)
        except ValidationFailed as exc:
            raise click.ClickException("; ".join(f"{k}: {v}" for k, v in exc.errors.items())) from None
        click.echo(f"Created {'owner' if member.is_owner else 'member'} {member.email}.")

    @app.cli.command("seed-demo")
    def seed_demo():
        """Create the demo owner (once) and print its login."""
        member = accounts.find_member_by_email(DEMO_EMAIL)
        if member is None:
            accounts.create_member(DEMO_EMAIL, "Dana Demo", DEMO_PASSWORD,
                                   owner=accounts.member_count() == 0)
        elif not member.check_password(DEMO_PASSWORD):
            # a demo made by an older version, with the password it had then
            click.echo(f"Demo login: {DEMO_EMAIL}, with the password it was created with "
                       "(make clean-demo starts over with this version's).")
            return
        click.echo(f"Demo login: {DEMO_EMAIL} / {DEMO_PASSWORD}")

    mail_group = click.Group("mail", help="The email outbox.")

    @mail_group.command("send-pending")
    @click.option("--limit", type=click.IntRange(min=1), default=500, show_default=True,
                  help="Send at most this many emails.")
    @click.option("--max-seconds", type=click.FloatRange(min=0), default=mailer.BATCH_SECONDS,
                  show_default=True, help="Start no new send after this long.")
    def send_pending(limit, max_seconds):
        """Send (or retry) due emails in the outbox; stops early if the mail server is down or hung."""
        counts = mailer.deliver_pending(limit=limit, budget=max_seconds)
        click.echo(f"sent {counts['sent']}, failed {counts['failed']}")

    app.cli.add_command(mail_group)

    payments_group = click.Group("payments", help="Payment attempts and the gateway.")

    @payments_group.command("reconcile")
    @click.option("--now", type=click.DateTime(), default=None, help="Pretend it is this UTC time (tests, demos).")
    @click.option("--days", type=click.IntRange(min=1), default=gateway_audit.DEFAULT_DAYS, show_default=True,
                  help="Compare the books with the gateway's records of this many days before now.")
    def reconcile(now, days):
        """Settle payments and refunds whose outcome is unknown by asking the gateway (run every few minutes),
        then compare the books with the gateway's own records of the last ``--days``.

        Exits 1 if something could not be reconciled, or if the gateway's
        records and the books do not match (each failure and mismatch is
        named, "FAILED" / "MISMATCH" on stderr); a gateway that cannot be
        reached skips the comparison (said on stderr) without failing. Refunds and give-backs stuck
        for a day (see ``ledger check``) are named on stderr, "CHECK IN
        BRAINTREE", for a person to look at.
        """
        failures: list[str] = []
        counts = funding.reconcile(now, failures=failures)
        click.echo(f"succeeded {counts['succeeded']}, failed {counts['failed']}, "
                   f"still waiting {counts['waiting']}")
        click.echo(f"late sales: adopted {counts['adopted']}, given back {counts['returned']}, "
                   f"matching no payment {counts['unmatched']}"
                   + (" (left alone: see the log, check them in the gateway)" if counts["unmatched"] else ""))
        counts = refunds.reconcile(now, failures=failures)
        click.echo(f"refunds: posted {counts['posted']}, failed {counts['failed']}, still waiting {counts['waiting']}"
                   + (f" ({counts['late']} made late, after being reported as not made)" if counts["late"] else ""))
        for doubt in ledger.gateway_doubts(now):
            click.echo(f"CHECK IN BRAINTREE: {doubt}", err=True)
        for failure in failures:
            click.echo(f"FAILED {failure}", err=True)
        audit, _ = gateway_audit.run(now, days)
        click.echo(audit.summary(), err=not audit.reachable)
        for settled in audit.settled:
            click.echo(f"settled: {settled}")
        for problem in audit.problems if audit.reachable else []:
            click.echo(f"MISMATCH {problem}", err=True)
        # An unreachable gateway is not a mismatch: a payment it leaves unknown for over an hour fails the run.
        if failures or (audit.reachable and audit.problems):
            raise SystemExit(1)

    app.cli.add_command(payments_group)

    ledger_group = click.Group("ledger", help="The escrow ledger.")

    @ledger_group.command("check")
    @click.option("--now", type=click.DateTime(), default=None, help="Pretend it is this UTC time (tests, demos).")
    def check(now):
        """Verify every ledger invariant, and that nothing is stuck at the gateway; exit 1 naming the offending rows."""
        problems = ledger.check(now)
        for problem in problems:
            click.echo(f"FAIL {problem}", err=True)
        if problems:
            raise SystemExit(1)
        click.echo("ledger OK: every journal balances, escrow never negative, "
                   "every succeeded charge has exactly one funding journal, "
                   "no refund or give-back stuck at the gateway")

    @ledger_group.command("days")
    @click.option("--rebuild", is_flag=True, help="Forget every day's sums and sum them anew from the entries.")
    def days(rebuild):
        """Sum the closed days' ledger entries per member (``jobs run-due`` does it; ``ledger check`` compares)."""
        written = ledger_days.rebuild() if rebuild else ledger_days.roll_up()
        through = ledger_days.through_stored()
        click.echo(f"{written} day sums written; the days before {through} are summed" if through
                   else "no day has closed yet: nothing to sum")

    app.cli.add_command(ledger_group)

    jobs_group = click.Group("jobs", help="Time-driven work (cron).")

    @jobs_group.command("run-due")
    @click.option("--now", type=click.DateTime(), default=None, help="Pretend it is this UTC time (tests, demos).")
    @click.option("--every", type=int, default=0, help="Keep running, every N seconds (the demo uses this).")
    def run_due(now, every):
        """Auto-release, reminders, email retries, payment and refund reconciliation. Idempotent.

        Every task and item runs on its own; a failed one is named on stderr and
        the others still run. Exits 1 if anything failed (without --every). One run at a
        time across every server sharing a PostgreSQL database: if another is under way,
        this one says so and does nothing (exit 0).
        """
        while True:
            report = jobs.run_due_alone(now)
            db.session.remove()
            if report is None:
                click.echo("skipped: another jobs run-due is under way (it does the work)")
                if not every:
                    return
                time.sleep(every)
                continue
            click.echo(", ".join(f"{k.replace('_', ' ')} {v}" for k, v in report.counts.items()))
            for failure in report.failures:
                click.echo(f"FAILED {failure}", err=True)
            if not every:
                if report.failures:
                    raise SystemExit(1)
                return
            time.sleep(every)

    app.cli.add_command(jobs_group)

    @app.cli.command("doctor")
    @click.option("--check-url", is_flag=True, help="Also fetch BASE_URL/healthz, as a visitor would.")
    @click.option("--send-test-email", is_flag=True, help="Also send a test email to the owner.")
    def doctor(check_url, send_test_email):
        """Check the configuration and the services it names, one line each; exit 1 if anything failed.

        Database (reachable, migrated), SECRET_KEY, BASE_URL, SMTP, Braintree and its merchant
        accounts, the jobs (run in the last 10 minutes) and backups (recent).
        """
        checks = health.run_all(check_url=check_url, send_test_email=send_test_email)
        for check in checks:
            click.echo(check.line, err=check.status == health.FAIL)
        if health.failed(checks):
            raise SystemExit(1)

    @app.cli.command("backup")
    @click.argument("directory", required=False, type=click.Path(file_okay=False))
    @click.option("--keep", type=click.IntRange(min=1), default=backup.DEFAULT_KEEP, show_default=True,
                  help="Keep this many backups in DIRECTORY (the oldest go).")
    def backup_command(directory, keep):
        """Write a consistent copy of the database into DIRECTORY (default BACKUP_DIR), while the app runs."""
        directory = directory or health.backup_dir()
        db.session.remove()
        try:
            path = backup.take(db.engine.url.render_as_string(hide_password=False), directory, keep)
        except backup.BackupError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"Backed up to {path} ({path.stat().st_size} bytes); keeping the newest {keep}.")

    @app.cli.command("restore")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    def restore_command(file):
        """Load FILE (made by ``flask backup``) into the EMPTY database DATABASE_URL names."""
        db.session.remove()
        db.engine.dispose()
        try:
            backup.restore(file, db.engine.url.render_as_string(hide_password=False))
        except backup.BackupError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"Restored {file}. Run `flask --app app db upgrade` if it was taken by an older version, "
                   f"then `flask --app app ledger check`.")
