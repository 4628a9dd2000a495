"""File input and output: reading and writing images in every format colorize handles, their metadata
(orientation, XMP), hashing while reading, atomic writes and the folder walk.

May import: colorcli.errors only. Nothing here decides colour, runs a model or knows about a batch.
"""
