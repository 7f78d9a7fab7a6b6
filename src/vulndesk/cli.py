"""The ``vulndesk`` command: Django's manage.py with vulndesk's settings.

``vulndesk --help`` lists every command; vulndesk's own are serve, demo, scheduler, sla_sweep,
create_organisation, create_product, create_user and audit.
"""

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vulndesk.settings")
    from django.core.management import execute_from_command_line

    argv = list(sys.argv if argv is None else argv)
    argv[0] = "vulndesk"
    if len(argv) == 1 or argv[1] in {"-h", "--help"}:
        argv[1:] = ["help"]
    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
