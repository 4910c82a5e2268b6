"""The `huike` command: Django's management commands under the project's own name.

`huike run`, `huike worker`, `huike demo`, `huike workspace create …`, `huike apikey create …`,
`huike audit verify`, `huike keys status|rotate|rewrap`, `huike backup`, `huike restore`, and
every Django command (`huike migrate`).
"""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["huike", *sys.argv[1:]])


if __name__ == "__main__":
    main()
