# mock-cotter: the Cotter API mock, served by Granian.
#
#   docker build -t mock-cotter .
#   docker run --rm -p 8000:8000 mock-cotter
#
# Configuration is only through MOCK_COTTER_* variables (see README, "Docker").
# Mount points: /fixtures (scenario files, read-only is fine) and /data
# (persistent state, with MOCK_COTTER_STATE_FILE=/data/state.db).

# Every stage starts from "base", so the first line is the only one naming an
# image: where no registry can be reached, `podman build --from` replaces just
# that line with a locally made Debian image.
FROM python:3.12-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

FROM base AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# `python3`, not `python`: Debian's interpreter has no `python` name.
RUN python3 -m venv /opt/venv
WORKDIR /src

# Dependencies in a layer of their own, rebuilt only when pyproject.toml
# changes rather than on every source edit. pytest is left out: it is there
# for the pytest plugin, and the image only serves. Faker keeps only the
# locale data the mock loads (docker/slim_faker.py says why).
COPY pyproject.toml docker/slim_faker.py ./
RUN python3 -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(d for d in p['dependencies'] + p['optional-dependencies']['server'] if not d.startswith('pytest')))" > requirements.txt \
 && /opt/venv/bin/pip install --requirement requirements.txt \
 && /opt/venv/bin/python slim_faker.py

# Then the package itself, as a wheel. pip is left out of the final image:
# nothing installs at run time.
COPY . ./
RUN /opt/venv/bin/pip wheel --no-deps --wheel-dir wheels . \
 && /opt/venv/bin/pip install --no-deps wheels/*.whl \
 && /opt/venv/bin/python -m pip uninstall --yes --quiet pip setuptools

FROM base
# A fixed uid, so that a host directory mounted at /data can be given to it.
RUN useradd --uid 10001 --user-group --no-create-home cotter \
 && mkdir -p /fixtures /data \
 && chown cotter:cotter /data
COPY --from=builder /opt/venv /opt/venv
# /data is not declared a VOLUME: that would leave an anonymous volume behind
# on every run, even when no state file is used.
ENV PATH=/opt/venv/bin:$PATH \
    MOCK_COTTER_SERVER=granian \
    MOCK_COTTER_HOST=0.0.0.0 \
    MOCK_COTTER_PORT=8000 \
    MOCK_COTTER_FIXTURES=/fixtures
USER cotter
# Relative file settings (MOCK_COTTER_STATE_FILE=state.db) land in /data.
WORKDIR /data
EXPOSE 8000
# Slim images have no curl; the venv's Python asks the mock itself.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/_mock/health' % os.environ.get('MOCK_COTTER_PORT', '8000'), timeout=2)"]
# `mock-cotter serve` with MOCK_COTTER_SERVER=granian: Granian as PID 1
# handles SIGTERM and stops within about a second (see
# mock_cotter/production.py for why Granian and for its settings).
CMD ["mock-cotter", "serve"]
