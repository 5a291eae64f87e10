"""Names that durable-harden's own fixes write into user code, in one place.

Rules must recognise what the fixes generate (the alarm schedule table is bookkeeping, not a
table that grows; `scheduleAlarm`/`armAlarmBy` are the cure, not another alarm purpose), and
the fixes and harden outputs must write exactly these names. Both import them from here.
"""

from __future__ import annotations

# -- the alarm schedule (codeactions/_alarm.py): one row per alarm kind -------------------------
SCHEDULE_TABLE = "_alarm_schedule"
SCHEDULE_METHOD = "scheduleAlarm"  # records a kind's due time, arms the alarm at the earliest
DEFAULT_KIND = "default"  # the kind of the class's old alarm() body
DEFAULT_METHOD = "alarmDefault"  # the old alarm() body, as a method
# the TTL fix's earliest-time helper (codeactions/unbounded_table_growth.py)
ARM_METHOD = "armAlarmBy"
# methods that arm the alarm for every purpose at the earliest due time (ours and the usual
# hand-written equivalent)
SCHEDULERS = frozenset({SCHEDULE_METHOD, ARM_METHOD})

# -- SQL schema migrations written into a class (codeactions/_migrations.py) ----------------------
MIGRATIONS_FIELD = "SQL_MIGRATIONS"
MIGRATIONS_RUNNER = "runSqlMigrations"
MIGRATIONS_TABLE = "_sql_schema_migrations"

# -- harden outputs (codeactions/harden/) ----------------------------------------------------------
README_START = "<!-- durable-harden:production-patterns -->"
README_END = "<!-- /durable-harden:production-patterns -->"
PATTERN_MARK = "// durable-harden:pattern "
