#!/bin/sh
# Migrate (unless RUN_MIGRATIONS=0, e.g. when a one-shot migration job does it), seed the lesson
# content, then hand the process over to the command (gunicorn by default).
set -eu
if [ "${RUN_MIGRATIONS:-1}" = "1" ]; then
  flask --app service db upgrade
  flask --app service seed
fi
exec "$@"
