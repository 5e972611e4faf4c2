"""Fixtures for the end-to-end tests: the contract tests' deployment (the core deployed as `ape run
deploy` does, with the small delays of their test configuration) and their fast-revert setting."""

from tests.contracts.conftest import _fast_reverts, deployment  # noqa: F401 - fixtures used by name
