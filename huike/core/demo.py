"""The registry of demo seeders: each part adds sample data to the demo workspace that
`make run` seeds, without the part that creates the workspace importing it."""

from collections.abc import Callable

# name -> seeder(workspace_id). Seeders are idempotent: a second run adds nothing.
_SEEDERS: dict[str, Callable[[int], None]] = {}


def register_demo_seeder(name: str, seeder: Callable[[int], None]) -> None:
    _SEEDERS[name] = seeder


def demo_seeders_run(workspace_id: int) -> None:
    """Run every registered seeder, in name order (parts register in AppConfig.ready)."""
    for name in sorted(_SEEDERS):
        _SEEDERS[name](workspace_id)
