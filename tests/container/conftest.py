"""Build the Docker image once per session and run containers from it.

The engine is Docker when ``docker info`` works. Otherwise it is podman, with
the flags a machine without a Docker engine or registry access needs: the
vfs storage driver (or overlay, see PODMAN_STORAGE_ENV), the runc runtime,
cgroupfs, limits no higher than the machine's, and a Debian base image made
with debootstrap standing in for ``python:3.12-slim`` (``podman build
--from``), made once and kept by name.

The image is tagged with a digest of its build context, so a session whose
Dockerfile and package did not change reuses the image instead of building.

A test asks for ``start_container`` (a ready container, with ``env`` and
``volumes``), ``container_volume`` (a named volume) or the module-wide
``served_container``; the scenario and state tests in test_image.py show
the few lines a new case takes.
"""

from __future__ import annotations

import fnmatch
import hashlib
import http.client
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGE_REPOSITORY = "localhost/mock-cotter-test"

# The stand-in for python:3.12-slim, built the same way (and under the same
# name) as in the project's container notes, so either can reuse the other's.
BASE_IMAGE = "localhost/pybase:bookworm"
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = "python3,python3-venv,ca-certificates"

PODMAN_GLOBAL_FLAGS = ("--runtime", "runc", "--cgroup-manager", "cgroupfs")

# podman's storage driver. vfs works on any file system and is the default;
# it copies the whole image on every `run`, which Docker's overlay2 does not.
# Where the kernel allows overlay, MOCK_COTTER_PODMAN_STORAGE=overlay uses it
# (benchmarks/container.py --storage overlay times start-up as a Docker host
# would see it), in a store of its own: podman keeps one driver per store.
PODMAN_STORAGE_ENV = "MOCK_COTTER_PODMAN_STORAGE"
PODMAN_STORES = {
    "vfs": (),
    "overlay": (
        "--root",
        "/var/lib/containers/mock-cotter-overlay",
        "--runroot",
        "/run/containers/mock-cotter-overlay",
    ),
}
# podman's default open-files limit is higher than such a machine allows.
PODMAN_LIMITS = ("--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096")

BUILD_TIMEOUT = 900.0
# With the vfs driver, creating a container copies the whole image first.
START_TIMEOUT = 90.0


class EngineUnavailable(Exception):
    """Raised when no container engine on this machine can build the image."""


class ContainerError(Exception):
    """Raised when an engine command fails or a container does not start."""


def _run(
    argv: list[str],
    *,
    timeout: float,
    check: bool = True,
    stdin=None,
) -> subprocess.CompletedProcess[str]:
    logger.debug("running %s", " ".join(argv))
    result = subprocess.run(
        argv,
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise ContainerError(
            f"{' '.join(argv[:4])} ... exited with {result.returncode}:\n"
            f"{result.stderr[-4000:]}"
        )

    return result


def free_port() -> int:
    """A TCP port nobody listens on now (containers run with --network host)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class ContainerEngine:
    """``docker`` or ``podman``, with the flags this machine needs."""

    name: str
    argv: tuple[str, ...]
    run_flags: tuple[str, ...] = ()
    build_flags: tuple[str, ...] = ()

    def command(
        self, *args: str, timeout: float = 120.0, check: bool = True, stdin=None
    ) -> subprocess.CompletedProcess[str]:
        return _run([*self.argv, *args], timeout=timeout, check=check, stdin=stdin)

    def image_exists(self, image: str) -> bool:
        return self.command("image", "inspect", image, check=False).returncode == 0

    def image_id(self, image: str) -> str:
        return self.command(
            "image", "inspect", "--format", "{{.Id}}", image
        ).stdout.strip()

    def build(self, tag: str, context: Path = REPO_ROOT) -> None:
        with tempfile.TemporaryDirectory(prefix="mock-cotter-build-") as scratch:
            flags = list(self.build_flags)
            if self.name == "podman":
                flags += pip_certificate_flags(Path(scratch))
            self.command(
                "build",
                *flags,
                "--tag",
                tag,
                "--file",
                str(context / "Dockerfile"),
                str(context),
                timeout=BUILD_TIMEOUT,
            )

    def create(
        self,
        image: str,
        *,
        env: Mapping[str, str] | None = None,
        volumes: Mapping[str, str] | None = None,
    ) -> Container:
        """Create (not start) a container on the host network; its
        MOCK_COTTER_PORT is a free port unless ``env`` sets one."""
        environment = dict(env or {})
        port = int(environment.get("MOCK_COTTER_PORT") or free_port())
        environment["MOCK_COTTER_PORT"] = str(port)
        name = f"mock-cotter-test-{uuid.uuid4().hex[:10]}"
        args = ["create", "--name", name, "--network", "host", *self.run_flags]
        for key, value in environment.items():
            args += ["--env", f"{key}={value}"]
        for source, target in (volumes or {}).items():
            args += ["--volume", f"{source}:{target}"]
        self.command(*args, image, timeout=START_TIMEOUT)
        return Container(self, name, port)

    def run(
        self,
        image: str,
        *,
        env: Mapping[str, str] | None = None,
        volumes: Mapping[str, str] | None = None,
    ) -> Container:
        """Create and start a container; see :meth:`create`."""
        container = self.create(image, env=env, volumes=volumes)
        container.start()
        return container

    def create_volume(self) -> str:
        name = f"mock-cotter-test-{uuid.uuid4().hex[:10]}"
        self.command("volume", "create", name)
        return name

    def remove_volume(self, name: str) -> None:
        self.command("volume", "rm", "--force", name, check=False)


@dataclass
class Container:
    """One running mock-cotter container, reached on 127.0.0.1:``port``."""

    engine: ContainerEngine
    name: str
    port: int
    exit_code: int | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """The base URL the Cotter SDKs are given."""
        return f"{self.url}/api/v0"

    def start(self) -> None:
        self.engine.command("start", self.name, timeout=START_TIMEOUT)

    def inspect(self, template: str) -> str:
        return self.engine.command(
            "inspect", "--format", template, self.name
        ).stdout.strip()

    def running(self) -> bool:
        return self.inspect("{{.State.Running}}") == "true"

    def logs(self) -> str:
        result = self.engine.command("logs", self.name, check=False)
        return result.stdout + result.stderr

    def exec(
        self, *argv: str, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in the container as the image's user."""
        flags = [f"--env={key}={value}" for key, value in (env or {}).items()]
        return self.engine.command("exec", *flags, self.name, *argv, check=False)

    def wait_until_ready(self, timeout: float = START_TIMEOUT) -> float:
        """Poll ``/_mock/health`` until it answers 200; return the seconds
        waited. Raises :class:`ContainerError` with the logs if the
        container exits or never answers."""
        started = time.monotonic()
        deadline = started + timeout
        next_state_check = started
        while time.monotonic() < deadline:
            if health_status(self.port) == 200:
                return time.monotonic() - started

            if time.monotonic() >= next_state_check:
                if not self.running():
                    raise ContainerError(
                        f"container {self.name} exited before answering:\n"
                        f"{self.logs()[-4000:]}"
                    )
                next_state_check = time.monotonic() + 1.0

            time.sleep(0.05)

        raise ContainerError(
            f"container {self.name} did not answer /_mock/health within "
            f"{timeout:.0f} s:\n{self.logs()[-4000:]}"
        )

    def run_healthcheck(self, timeout: float = 60.0) -> bool:
        """Run the image's own HEALTHCHECK and say whether it passed.

        podman runs it on demand; Docker runs it on its own schedule, so
        wait for Docker's verdict instead.
        """
        if self.engine.name == "podman":
            result = self.engine.command("healthcheck", "run", self.name, check=False)
            return result.returncode == 0

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.inspect("{{.State.Health.Status}}")
            if status in ("healthy", "unhealthy"):
                return status == "healthy"

            time.sleep(0.5)

        return False

    def stop(self, timeout: int = 10) -> float:
        """Stop the container (SIGTERM, then SIGKILL after ``timeout``) and
        return how long the engine took, in seconds."""
        started = time.monotonic()
        self.engine.command("stop", "--time", str(timeout), self.name)
        elapsed = time.monotonic() - started
        self.exit_code = int(self.inspect("{{.State.ExitCode}}"))
        return elapsed

    def remove(self) -> None:
        self.engine.command("rm", "--force", self.name, check=False)


def health_status(port: int) -> int | None:
    """The status of ``GET /_mock/health``, or None if nothing answers."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/_mock/health")
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        connection.close()


# --- finding an engine and building the image ----------------------------


def find_engine() -> ContainerEngine:
    """Docker if its engine answers, else podman; raise
    :class:`EngineUnavailable` saying what is missing."""
    docker = shutil.which("docker")
    if docker:
        result = _run([docker, "info"], timeout=30, check=False)
        if result.returncode == 0:
            return ContainerEngine("docker", (docker,))

    podman = shutil.which("podman")
    if not podman:
        raise EngineUnavailable(
            "neither a Docker engine (docker info failed) nor podman is "
            "available; install podman: apt-get install podman runc debootstrap"
        )

    if not shutil.which("runc"):
        raise EngineUnavailable("podman needs runc here: apt-get install runc")

    storage = os.environ.get(PODMAN_STORAGE_ENV, "vfs")
    if storage not in PODMAN_STORES:
        raise EngineUnavailable(
            f"{PODMAN_STORAGE_ENV}={storage!r}: must be one of "
            + ", ".join(PODMAN_STORES)
        )
    engine = ContainerEngine(
        "podman",
        (
            podman,
            "--storage-driver",
            storage,
            *PODMAN_STORES[storage],
            *PODMAN_GLOBAL_FLAGS,
        ),
        run_flags=PODMAN_LIMITS,
        build_flags=podman_build_flags(),
    )
    result = engine.command("info", check=False, timeout=60)
    if result.returncode != 0:
        raise EngineUnavailable(f"podman info failed: {result.stderr.strip()[-500:]}")

    ensure_base_image(engine)
    return engine


def podman_build_flags() -> tuple[str, ...]:
    flags = [
        "--format",
        "docker",  # podman's default OCI format drops HEALTHCHECK
        "--from",
        BASE_IMAGE,
        "--network",
        "host",
        # With vfs every cached layer is a full copy of the file system, which
        # makes even a fully cached build slower than one without layers; the
        # context digest below is the cache instead.
        "--layers=false",
        *PODMAN_LIMITS,
    ]
    return tuple(flags)


def pip_certificate_flags(scratch: Path) -> list[str]:
    """Give pip in the build the host's certificates (``PIP_CERT``), for the
    same network. Through a pip.conf mounted for the build only: unlike
    ``--env PIP_CERT``, it leaves nothing behind in the image."""
    cert = os.environ.get("PIP_CERT")
    if not cert or not os.path.isfile(cert):
        return []

    config = scratch / "pip.conf"
    config.write_text(f"[global]\ncert = {cert}\n")
    return ["--volume", f"{cert}:{cert}:ro", "--volume", f"{config}:/etc/pip.conf:ro"]


def ensure_base_image(engine: ContainerEngine) -> None:
    """Make the Debian base image with debootstrap, unless it exists."""
    if engine.image_exists(BASE_IMAGE):
        return

    if not shutil.which("debootstrap"):
        raise EngineUnavailable(
            f"podman needs the base image {BASE_IMAGE}, made with debootstrap, "
            "which is not installed: apt-get install debootstrap"
        )

    if os.geteuid() != 0:
        raise EngineUnavailable(f"making {BASE_IMAGE} with debootstrap needs root")

    logger.info("making %s with debootstrap (about a minute)", BASE_IMAGE)
    with tempfile.TemporaryDirectory(prefix="mock-cotter-base-") as scratch:
        # A folder debootstrap makes itself (0755): the image's / gets the
        # mode of this folder, and a 0700 one would shut out non-root users.
        rootfs = os.path.join(scratch, "rootfs")
        result = _run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={BASE_PACKAGES}",
                DEBIAN_SUITE,
                rootfs,
                DEBIAN_MIRROR,
            ],
            timeout=BUILD_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            raise EngineUnavailable(
                f"debootstrap could not make {BASE_IMAGE}:\n{result.stdout[-2000:]}"
            )

        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        try:
            engine.command("import", "-", BASE_IMAGE, stdin=tar.stdout, timeout=600)
        finally:
            tar.stdout.close()
            tar.wait()


def _ignore_patterns(context: Path) -> list[str]:
    ignore_file = context / ".dockerignore"
    if not ignore_file.is_file():
        return []

    lines = (line.strip() for line in ignore_file.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _ignored(relative: str, patterns: list[str]) -> bool:
    """Whether .dockerignore leaves ``relative`` (or a folder above it) out;
    the last matching pattern wins, as with Docker."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        keep = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        if pattern.startswith("**/"):
            tail = pattern[3:]
            matched = any(
                fnmatch.fnmatchcase("/".join(parts[i : j + 1]), tail)
                for i in range(len(parts))
                for j in range(i, len(parts))
            )
        else:
            matched = any(fnmatch.fnmatchcase(c, pattern) for c in candidates)
        if matched:
            ignored = not keep

    return ignored


def context_digest(engine: ContainerEngine, context: Path = REPO_ROOT) -> str:
    """A digest of everything the image is built from: the files the build
    context sends, the engine and, for podman, the base image."""
    digest = hashlib.sha256(engine.name.encode())
    if engine.name == "podman":
        digest.update(engine.image_id(BASE_IMAGE).encode())

    for relative in sorted(set(_context_files(context))):
        content = (context / relative).read_bytes()
        digest.update(relative.encode() + b"\0" + content + b"\0")

    return digest.hexdigest()


def _context_files(context: Path) -> Iterator[str]:
    """The files a build of ``context`` reads: the Dockerfile, .dockerignore
    and every file .dockerignore lets through (ignored folders are not
    entered, so .venv and .git cost nothing)."""
    patterns = _ignore_patterns(context)
    yield from (
        name for name in ("Dockerfile", ".dockerignore") if (context / name).is_file()
    )
    for folder, subfolders, files in os.walk(context):
        base = Path(folder).relative_to(context).as_posix()
        prefix = "" if base == "." else base + "/"
        subfolders[:] = [d for d in subfolders if not _ignored(prefix + d, patterns)]
        for name in files:
            if not _ignored(prefix + name, patterns):
                yield prefix + name


def build_image(engine: ContainerEngine, context: Path = REPO_ROOT) -> str:
    """Build the image unless one from the same context exists; return its
    tag. Older test images are removed: with vfs each takes 300 MB."""
    tag = f"{IMAGE_REPOSITORY}:{context_digest(engine, context)[:16]}"
    if engine.image_exists(tag):
        logger.info("reusing %s", tag)
        return tag

    started = time.monotonic()
    engine.build(tag, context)
    logger.info("built %s in %.0f s", tag, time.monotonic() - started)
    listing = engine.command("images", "--format", "{{.Repository}}:{{.Tag}}")
    for image in listing.stdout.split():
        if image.startswith(IMAGE_REPOSITORY + ":") and image != tag:
            engine.command("rmi", image, check=False)
    return tag


# --- fixtures ----------------------------------------------------------------


@pytest.fixture(scope="session")
def container_engine() -> ContainerEngine:
    """The engine that builds and runs the image; in CI its absence fails."""
    try:
        return find_engine()
    except EngineUnavailable as exc:
        reason = f"cannot build the Docker image: {exc}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must run the container tests)", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def app_image(container_engine: ContainerEngine) -> str:
    """The image's tag, built once per session (or reused, if unchanged)."""
    return build_image(container_engine)


class ContainerPool:
    """Starts containers from the image and removes them all at the end."""

    def __init__(self, engine: ContainerEngine, image: str):
        self.engine = engine
        self.image = image
        self.started: list[Container] = []

    def start(
        self,
        env: Mapping[str, str] | None = None,
        volumes: Mapping[str, str] | None = None,
    ) -> Container:
        """Run a container and wait until ``/_mock/health`` answers."""
        container = self.engine.run(self.image, env=env, volumes=volumes)
        self.started.append(container)
        container.wait_until_ready()
        return container

    def close(self) -> None:
        for container in self.started:
            container.remove()


@pytest.fixture(scope="module")
def served_container(
    container_engine: ContainerEngine, app_image: str
) -> Iterator[Container]:
    """One container shared by a module's tests that only read from it."""
    pool = ContainerPool(container_engine, app_image)
    yield pool.start()
    pool.close()


@pytest.fixture
def start_container(
    container_engine: ContainerEngine, app_image: str
) -> Iterator[Callable[..., Container]]:
    """``start_container(env=..., volumes=...)`` runs a ready container,
    removed after the test."""
    pool = ContainerPool(container_engine, app_image)
    yield pool.start
    pool.close()


@pytest.fixture
def container_volume(
    container_engine: ContainerEngine,
) -> Iterator[Callable[[], str]]:
    """``container_volume()`` makes a named volume, removed after the test."""
    made: list[str] = []

    def create() -> str:
        made.append(container_engine.create_volume())
        return made[-1]

    yield create
    for name in made:
        container_engine.remove_volume(name)
