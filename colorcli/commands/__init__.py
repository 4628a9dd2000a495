"""The command line's commands, one module each, loaded by colorcli.cli only when the command runs.

May import anything in colorcli; the train and export commands import colorcli.training only inside the
command, so `colorcli --help` and the inference commands never load torch.
"""
