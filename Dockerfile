# syntax=docker/dockerfile:1
# finsync's Airflow image: the official Apache Airflow image of the version pinned in
# requirements.txt (apache-airflow==3.3.2, Python 3.11 as pyproject.toml requires), with
# every pin of requirements.txt and finsync installed. Used by docker-compose.yaml for every
# Airflow service (API server, scheduler, DAG processor, triggerer, Celery workers).
#
#   docker build -t finsync-airflow .
#
# Two stages: `build` may compile what has no wheel for the platform (build-essential,
# libpq-dev), `runtime` starts again from the clean official image and copies only the
# installed Python environment (/home/airflow/.local, the image's virtualenv) and finsync, so
# no compiler or header is left in the final image. Both run as the image's non-root user
# `airflow` (UID 50000, group 0), except the apt step of the build stage.
#
# Not built or run by the test suite (no container engine on the test machine): the tests
# check this file statically against requirements.txt (tests/dags/test_docker_compose.py).

ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11

FROM ${AIRFLOW_IMAGE} AS build
USER 0
# Unpinned on purpose: whatever Debian's security updates hold for the image's release; only
# this stage has them, and nothing of them reaches the runtime stage.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential libpq-dev \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir /opt/finsync \
    && chown airflow:0 /opt/finsync
# 50000: the image's `airflow` user (group 0), as the official image names it.
USER 50000
# The pins first (a layer that changes only with requirements.txt). Naming the image's own
# Airflow version too makes pip fail, rather than replace Airflow, if requirements.txt ever
# pinned another one (the official image's advice when extending it).
COPY --chown=airflow:0 requirements.txt /opt/finsync/requirements.txt
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /opt/finsync/requirements.txt
# finsync, installed from its source tree (editable: it reads its SQL from include/sql beside
# src/, as in a checkout). Its DAGs and plugin are the Airflow folders set below.
COPY --chown=airflow:0 pyproject.toml README.md /opt/finsync/
COPY --chown=airflow:0 src /opt/finsync/src
COPY --chown=airflow:0 include /opt/finsync/include
COPY --chown=airflow:0 dags /opt/finsync/dags
COPY --chown=airflow:0 plugins /opt/finsync/plugins
COPY --chown=airflow:0 samples/demo /opt/finsync/samples/demo
RUN pip install --no-cache-dir --no-deps -e /opt/finsync \
    && python -c "import finsync, finsync.budget.sync; assert finsync.SQL_DIR.is_dir()"

FROM ${AIRFLOW_IMAGE} AS runtime
USER 50000
COPY --from=build --chown=airflow:0 /home/airflow/.local /home/airflow/.local
COPY --from=build --chown=airflow:0 /opt/finsync /opt/finsync
# Shared storage (FINSYNC_STORAGE_URL's default: a volume in docker-compose.yaml, which takes
# this directory's owner when new) and each container's own working directory.
RUN mkdir -p /opt/airflow/finsync-storage /opt/airflow/finsync-work
ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/finsync/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/finsync/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    FINSYNC_HOME=/opt/airflow/finsync \
    FINSYNC_WORK_DIR=/opt/airflow/finsync-work \
    FINSYNC_STORAGE_URL=file:///opt/airflow/finsync-storage \
    GX_ANALYTICS_ENABLED=False
