"""safealign: the library behind the safety-alignment research book.

Notebooks narrate and call; everything that computes lives here, once.
"""

__version__ = "0.1.0"
