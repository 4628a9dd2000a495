"""The batch run: planning a folder tree's outputs, the worker processes and the parent's inference loop,
shards, the run's reports and their merge, and the before/after sheet.

May import: colorcli.scoring, colorcli.models, colorcli.look, colorcli.io and colorcli.errors; never the
command line (colorcli.commands, colorcli.cli) nor colorcli.training.
"""
