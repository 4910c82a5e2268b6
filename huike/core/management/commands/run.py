"""`huike run` (what `make run` starts): prepare the database, then the web server and a worker.

Migrates, collects static files, seeds the demo workspace (idempotent), then runs uvicorn and
`huike worker` as child processes in this process group. Ctrl-C or SIGTERM stops both within
STOP_TIMEOUT_SECONDS (SIGTERM, then SIGKILL); if either child dies the other is stopped and the
command exits non-zero, so a supervisor sees the failure.
"""

import os
import signal
import subprocess
import sys
import time
from argparse import ArgumentParser
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils.translation import gettext as _

# Children get SIGTERM first; whatever still runs this long after is killed. Below the 3 s
# promised to the person pressing Ctrl-C, with room for the kill itself.
STOP_TIMEOUT_SECONDS = 2.5
# The worker's own grace for a running task must end before we kill it.
WORKER_SHUTDOWN_GRACE_SECONDS = 1.5
# uvicorn waits this long for open requests after SIGTERM.
WEB_GRACEFUL_SECONDS = 1
CHILD_POLL_SECONDS = 0.2


class Command(BaseCommand):
    help = "Migrate, seed the demo, and run the web server and a worker together."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--host",
            default=os.environ.get("HOST", "127.0.0.1"),
            help="Address to listen on (default: %(default)s).",
        )
        parser.add_argument(
            "--port",
            type=int,
            default=int(os.environ.get("PORT", "8000")),
            help="Port to listen on (default: $PORT or 8000).",
        )
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="Run only the web server.",
        )
        parser.add_argument(
            "--no-demo",
            action="store_true",
            help="Do not create the demo workspace.",
        )
        parser.add_argument(
            "--demo",
            action="store_true",
            help="Create the demo workspace even on a non-embedded (PostgreSQL) database.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.stop_signal: int | None = None
        self.children_started = False
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGHUP, self._on_signal)

        self.stdout.write(_("Preparing the database…"))
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        # The demo admin's password is public: only the embedded database gets it by default.
        if options["demo"] or (not options["no_demo"] and connection.vendor == "sqlite"):
            # Idempotent, and prints the demo logins.
            self._seed_demo()
        children = self._start_children(options)
        self.children_started = True
        host = options["host"]
        shown_host = f"[{host}]" if ":" in host else host
        url = f"http://{shown_host}:{options['port']}/"
        self.stdout.write(self.style.SUCCESS(_("Huike is running at %(url)s") % {"url": url}))
        self.stdout.write(_("Press Ctrl-C to stop."))
        self.stdout.flush()
        failed = self._supervise(children)
        if failed:
            raise CommandError(failed, returncode=1)

    def _seed_demo(self) -> None:
        # By command name: `core` sits below `accounts` and does not import it.
        call_command("demo", stdout=self.stdout, stderr=self.stderr)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if not self.children_started:
            # Still preparing: stop right here (a migration in progress rolls back).
            raise SystemExit(0)
        if self.stop_signal is None:
            self.stop_signal = signum

    def _start_children(self, options: dict[str, Any]) -> dict[str, subprocess.Popen[bytes]]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings"),
            "PYTHONUNBUFFERED": "1",
        }
        if sys.stderr.isatty():
            # A person is watching: readable log lines rather than JSON, unless chosen.
            env.setdefault("HUIKE_LOG_FORMAT", "console")
        module, attribute = settings.ASGI_APPLICATION.rsplit(".", 1)
        web = [
            sys.executable,
            "-m",
            "uvicorn",
            f"{module}:{attribute}",
            "--host",
            options["host"],
            "--port",
            str(options["port"]),
            "--lifespan",
            "off",
            "--timeout-graceful-shutdown",
            str(WEB_GRACEFUL_SECONDS),
            "--log-level",
            "warning",
        ]
        worker = [
            sys.executable,
            "-m",
            "huike.cli",
            "worker",
            "--shutdown-grace",
            str(WORKER_SHUTDOWN_GRACE_SECONDS),
        ]
        # Our own interpreter and fixed arguments: nothing here comes from outside.
        children = {_("web server"): subprocess.Popen(web, env=env, cwd=settings.BASE_DIR)}  # noqa: S603
        if not options["no_worker"]:
            children[_("worker")] = subprocess.Popen(worker, env=env, cwd=settings.BASE_DIR)  # noqa: S603
        return children

    def _supervise(self, children: dict[str, subprocess.Popen[bytes]]) -> str:
        """Wait for a stop signal or a dead child; stop everything; say what went wrong."""
        failed = ""
        while self.stop_signal is None and not failed:
            for name, child in children.items():
                code = child.poll()
                if code is not None:
                    failed = _("The %(process)s exited unexpectedly (exit code %(code)s).") % {
                        "process": name,
                        "code": code,
                    }
                    break
            else:
                time.sleep(CHILD_POLL_SECONDS)
        if failed:
            self.stderr.write(failed)
        else:
            self.stdout.write(_("Stopping…"))
        self._stop(children)
        return failed

    def _stop(self, children: dict[str, subprocess.Popen[bytes]]) -> None:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for child in children.values():
            try:
                child.wait(timeout=max(deadline - time.monotonic(), 0))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
