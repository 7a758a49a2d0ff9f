from __future__ import annotations

import pytest

from trainer.corpus import SHAKESPEARE_SIZE, shakespeare_bytes
from trainer.corpus.build import clean_work


def test_clean_work_strips_gutenberg_boilerplate() -> None:
    raw = ("The Project Gutenberg EBook of Hamlet\r\nlicence blah\r\n"
           "*** START OF THIS PROJECT GUTENBERG EBOOK HAMLET ***\r\n\r\nHAMLET  \r\nTo be.\r\n\r\n"
           "*** END OF THIS PROJECT GUTENBERG EBOOK HAMLET ***\r\nlicence text\r\n")
    assert clean_work(raw) == "HAMLET\nTo be.\n"


def test_clean_work_refuses_leftover_licence() -> None:
    with pytest.raises(ValueError, match="Gutenberg"):
        clean_work("Hamlet\nThis eBook is for the use of anyone, see Project Gutenberg.\n")


def test_embedded_corpus_matches_pin() -> None:
    data = shakespeare_bytes()
    assert len(data) == SHAKESPEARE_SIZE
    assert data.startswith(b"ALL'S WELL THAT ENDS WELL\n") and data.rstrip().endswith(b"[Exeunt.]")
