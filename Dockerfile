# Production image: gunicorn web, Celery worker and beat all run from it (see docker-compose.yml).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TRIALSITE_VAR_DIR=/var/lib/trialsite

# WeasyPrint needs Pango; the dose-sheet PDFs need a CJK font for Chinese names.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 \
       fonts-wqy-microhei fonts-dejavu-core gettext curl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
RUN useradd --system --home /app --uid 10001 trialsite \
    && mkdir -p /var/lib/trialsite/chain \
    && chown -R trialsite /var/lib/trialsite \
    && export ALLOCATION_CHAIN_KEY=build-only:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA \
              SEED_ENCRYPTION_KEY=build-only:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA \
    && DEBUG=false SECRET_KEY=build-only-collectstatic python manage.py collectstatic --no-input \
    && DEBUG=false SECRET_KEY=build-only-compilemessages python manage.py compilemessages --ignore '.venv/*'

USER trialsite
EXPOSE 8000
# The same arguments as docker-compose.yml's web service (see the comment there).
CMD ["gunicorn", "trialsite.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "60", "--preload"]
