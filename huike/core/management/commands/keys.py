"""`huike keys status|rotate|rewrap`: the personal-data keys (docs/operations.md).

- `status [--workspace SLUG]`: the master key in use, each workspace's key versions, and per
  encrypted column how many rows each encryption key version (and each index key version)
  holds.
- `rotate [--workspace SLUG] [--include-index]`: new data key versions, every column moved to
  them without downtime; run it again after a crash to finish.
- `rewrap`: wrap every data key under HUIKE_MASTER_KEY (after moving the old master key to
  HUIKE_MASTER_KEY_PREVIOUS).

Workspaces are read through the app registry: core sits below accounts and never imports it.
"""

from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from huike.core.crypto import ENCRYPTION, CryptoError, master_keys
from huike.core.key_rotation import (
    RotationProgress,
    WorkspaceRotation,
    keys_rewrap,
    keys_rotate,
    keys_status,
)
from huike.core.management.workspaces import workspace_slugs
from huike.core.models import DataKey

# Failed rows printed by `rotate`; the report counts all of them.
FAILURES_SHOWN = 20


class Command(BaseCommand):
    help = "Show, rotate and re-wrap the keys that encrypt personal data."

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        status = actions.add_parser(
            "status", help="Key versions per workspace and rows per key version per column."
        )
        status.add_argument("--workspace", help="Only this workspace (slug).")
        rotate = actions.add_parser(
            "rotate", help="New data key versions; re-encrypt every column (resumable)."
        )
        rotate.add_argument("--workspace", help="Only this workspace (slug).")
        rotate.add_argument(
            "--include-index",
            action="store_true",
            dest="include_index",
            help="Also rotate the blind-index key and recompute every index column.",
        )
        actions.add_parser(
            "rewrap", help="Wrap every data key under HUIKE_MASTER_KEY (master-key rotation)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        handlers = {"status": self._status, "rotate": self._rotate, "rewrap": self._rewrap}
        try:
            handlers[options["action"]](options)
        except CryptoError as error:
            raise CommandError(str(error)) from None

    def _status(self, options: dict[str, Any]) -> None:
        masters = master_keys()
        source = getattr(settings, "HUIKE_MASTER_KEY_SOURCE", "environment")
        self.stdout.write(
            _("Master key %(id)s (from %(source)s); %(previous)d previous key(s) accepted.")
            % {
                "id": masters.current_id,
                "source": _("the environment") if source == "environment" else "var/master_key",
                "previous": len(masters.by_id) - 1,
            }
        )
        slugs = workspace_slugs(options["workspace"])
        for status in keys_status(workspace_ids=list(slugs)):
            self.stdout.write(slugs[status.workspace_id])
            if not status.keys:
                self.stdout.write(
                    "  " + _("no keys yet (created when personal data is first written)")
                )
                continue
            for key in status.keys:
                line = "  " + self._key_line(key)
                if key.master_key_id not in masters.by_id:
                    line += _(
                        " -- NOT CONFIGURED: set this master key in HUIKE_MASTER_KEY_PREVIOUS "
                        "or its values cannot be read"
                    )
                self.stdout.write(line)
            for column in status.columns:
                self.stdout.write(
                    "  "
                    + _("%(column)s rows per key version: %(counts)s")
                    % {"column": column.label, "counts": self._counts(column.rows_by_version)}
                )
                if column.index_rows_by_version:
                    # Rows on an older index key than the newest were stored by a writer that
                    # still held old keys; the next `huike keys rotate` recomputes them.
                    self.stdout.write(
                        "  "
                        + _("%(column)s rows per index key version: %(counts)s")
                        % {
                            "column": column.label,
                            "counts": self._counts(column.index_rows_by_version),
                        }
                    )

    def _counts(self, rows_by_version: dict[int | None, int]) -> str:
        counts = ", ".join(
            _("v%(version)s: %(rows)d") % {"version": version, "rows": rows}
            if version is not None
            else _("unreadable: %(rows)d") % {"rows": rows}
            for version, rows in rows_by_version.items()
        )
        return counts or _("none")

    def _key_name(self, purpose: str, version: int) -> str:
        if purpose == ENCRYPTION:
            return _("encryption key v%(version)s") % {"version": version}
        return _("index key v%(version)s") % {"version": version}

    def _key_line(self, key: DataKey) -> str:
        if key.retired_at is None:
            state = _("in use")
        else:
            when = key.retired_at.strftime("%Y-%m-%d %H:%M UTC")
            state = _("retired %(when)s") % {"when": when}
        return _("%(key)s, %(state)s, wrapped by master key %(master)s") % {
            "key": self._key_name(key.purpose, key.version),
            "state": state,
            "master": key.master_key_id,
        }

    def _rotate(self, options: dict[str, Any]) -> None:
        slugs = workspace_slugs(options["workspace"])
        verbose = options["verbosity"] >= 2

        def progress(batch: RotationProgress) -> None:
            if verbose:
                self.stdout.write(
                    _("  %(workspace)s %(column)s: %(count)d rows re-encrypted")
                    % {
                        "workspace": slugs.get(batch.workspace_id, batch.workspace_id),
                        "column": batch.column,
                        "count": batch.reencrypted,
                    }
                )

        workspace_id = next(iter(slugs)) if options["workspace"] else None
        report = keys_rotate(
            workspace_id=workspace_id, include_index=options["include_index"], on_batch=progress
        )
        if not report.workspaces:
            self.stdout.write(_("No workspace has personal-data keys yet; nothing to rotate."))
        for workspace in report.workspaces:
            self._rotation_lines(slugs.get(workspace.workspace_id, "?"), workspace)
        if report.failed:
            raise CommandError(
                _(
                    "%(count)d rows could not be re-encrypted; their old key versions stay in "
                    "use. Fix or erase those rows, then run `huike keys rotate` again."
                )
                % {"count": report.failed}
            )

    def _rotation_lines(self, slug: str, workspace: WorkspaceRotation) -> None:
        if not workspace.has_keys:
            self.stdout.write(
                _("%(workspace)s: no personal-data keys yet; nothing to rotate.")
                % {"workspace": slug}
            )
            return
        line = _("%(workspace)s: encryption key v%(version)s") % {
            "workspace": slug,
            "version": workspace.encryption_version,
        }
        if workspace.reindexed:
            line += _(", index key v%(version)s (index columns recomputed)") % {
                "version": workspace.index_version
            }
        if workspace.resumed:
            line += _(" (resumed an unfinished rotation)")
        self.stdout.write(line)
        for column, count in workspace.reencrypted.items():
            self.stdout.write(
                "  "
                + _("%(column)s: %(count)d rows re-encrypted") % {"column": column, "count": count}
            )
        for failure in workspace.failures[:FAILURES_SHOWN]:
            self.stdout.write(
                "  "
                + _("FAILED %(column)s row %(pk)s: %(reason)s")
                % {"column": failure.column, "pk": failure.pk, "reason": failure.reason}
            )
        if workspace.finished:
            retired = ", ".join(
                self._key_name(purpose, version) for purpose, version in workspace.retired
            )
            self.stdout.write("  " + _("finished; retired %(keys)s") % {"keys": retired or "-"})
        else:
            self.stdout.write("  " + _("not finished; older key versions stay in use"))

    def _rewrap(self, options: dict[str, Any]) -> None:
        count = keys_rewrap()
        self.stdout.write(
            _("Re-wrapped %(count)d data keys under master key %(id)s.")
            % {"count": count, "id": master_keys().current_id}
        )
