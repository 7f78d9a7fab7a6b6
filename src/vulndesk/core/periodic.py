"""Periodic work. django-tasks has no scheduler, so ``vulndesk scheduler`` enqueues every task
registered here once per interval; apps register theirs in ``AppConfig.ready()``. Each task
must be idempotent: a missed or doubled tick must not matter."""

PERIODIC_TASKS: list = []


def register_periodic(task) -> None:
    if task not in PERIODIC_TASKS:
        PERIODIC_TASKS.append(task)
