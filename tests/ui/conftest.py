import pytest


@pytest.fixture(autouse=True)
def private_home(microsr_home):
    """Every UI test has its own MicroSR home: run timings, uploads and jobs never leak between tests."""
    return microsr_home
