"""Paper citations: every method's paper is known, and its title is the one its text carries."""

import pytest

from microsr_core.models.papers import PAPERS, cite, paper_of
from microsr_core.paths import PROJECT_ROOT
from microsr_core.models.registry import method_class, method_names


def test_every_learned_method_cites_a_known_paper_by_title():
    for name in method_names(include_promoted=False):
        cls = method_class(name)
        if cls.runs_network and not name.startswith("import@"):
            assert paper_of(cls.paper) is not None, f"{name}: paper '{cls.paper}' has no citation"
            assert ".txt" not in cite(cls.paper)


def test_cite_gives_authors_title_and_doi_and_leaves_other_text():
    assert cite("000_b1a023948e8c0af3.txt (Ayas & Ekinci 2019)") == (
        "Ayas & Ekinci 2019: Microscopic image super resolution using deep convolutional neural networks "
        "(doi:10.1007/s11042-019-7397-7)")
    assert cite("MATLAB imresize (Keys cubic, a = -0.5)") == "MATLAB imresize (Keys cubic, a = -0.5)"


@pytest.mark.parametrize("file", sorted(PAPERS))
def test_titles_match_the_papers_texts(file):
    path = PROJECT_ROOT.parent / "shared" / "papers" / file  # the papers' texts beside the checkout
    if not path.is_file():
        pytest.skip(f"{path} is absent (../shared not available)")
    text = " ".join(path.read_text().split()).lower()
    assert PAPERS[file].title.lower() in text
