"""Tests of the Docker image (a package, so that its conftest does not shadow
the top-level one for ``from conftest import ...``)."""
