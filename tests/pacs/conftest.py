"""The PACS tests' fixtures: a real Orthanc with the synthetic studies in it (tests/pacs/fixtures.py)."""
from tests.pacs.fixtures import expected_knees, orthanc, pacs_env, studies  # noqa: F401
