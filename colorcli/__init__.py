"""colorcli: colorize archives of black-and-white photographs, offline and in batch."""

__version__ = "0.1.0"
