"""The batch run: planning a folder tree's outputs, the worker processes and the parent's inference loop,
shards, the run's reports and their merge, the before/after sheet, and the review page (with its
thumbnails and the curator's marks).

May import: colorcli.scoring, colorcli.models, colorcli.look, colorcli.io and colorcli.errors; never the
command line (colorcli.commands, colorcli.cli) nor colorcli.training.
"""
