# syntax=docker/dockerfile:1
# Build: dependencies into a virtualenv. Run: slim, non-root, migrate then exec gunicorn.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
# Install the dependencies, then drop the package itself: the runtime image runs the source in /app.
RUN pip install . && pip uninstall --yes activation-lab

FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PORT=8000 \
    BIND_HOST=0.0.0.0 \
    APP_ENV=production \
    DATABASE_URL=sqlite:////data/activation-lab.db \
    NUMBA_CACHE_DIR=/home/app/.cache/numba
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin app \
    && mkdir -p /data && chown app:app /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=app:app service ./service
COPY --chown=app:app migrations ./migrations
COPY --chown=app:app gunicorn.conf.py docker-entrypoint.sh ./
USER 10001
# The normalization kernels compiled into NUMBA_CACHE_DIR (writable by app): workers load them
# instead of compiling. A host with another CPU recompiles them once, at gunicorn's start.
RUN python -m service.numerics.normalization.warmup
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ['PORT']}/health/live\", timeout=2)"]
ENTRYPOINT ["./docker-entrypoint.sh"]
CMD ["gunicorn", "--config", "gunicorn.conf.py", "service:create_app()"]
