"""The papers the methods implement, cited by title.

Cards and methods name a paper by its text file in ``../shared/papers`` (a stable key, e.g.
``"000_b1a023948e8c0af3.txt (Ayas & Ekinci 2019)"``); pages, reports and exports show the title
from here instead, so they read the same where ``../shared`` is absent.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Paper:
    title: str
    authors: str  # short form, as cited in the text
    doi: str | None = None  # None: the paper has no DOI we know (MicroGAN's preprint)

    def citation(self) -> str:
        return f"{self.authors}: {self.title}" + (f" (doi:{self.doi})" if self.doi else "")


#: By text file. 003's DOI is printed in its text, 000's was looked up at doi.org.
PAPERS = {
    "000_b1a023948e8c0af3.txt": Paper("Microscopic image super resolution using deep convolutional neural networks",
                                      "Ayas & Ekinci 2019", "10.1007/s11042-019-7397-7"),
    "003_4b1e96ef8e7f4ac4.txt": Paper("Leukocyte super-resolution via geometry prior and structural consistency",
                                      "Hua et al. 2020", "10.1117/1.JBO.25.10.106501"),
    "004_67d765c92f46390f.txt": Paper("MicroGAN: Size-invariant Learning of GAN for Super-Resolution of Microscopic Images",
                                      "Gautam et al."),
}


def paper_of(reference: str) -> Paper | None:
    """The paper a card's or method's ``paper`` field names (``"<file> (<short name>)"``), or None."""
    return PAPERS.get(reference.partition(" ")[0])


def cite(reference: str) -> str:
    """``reference`` as a reader wants it: authors and title (and DOI); other text as it is."""
    paper = paper_of(reference)
    return paper.citation() if paper else reference
