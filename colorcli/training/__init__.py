"""The training side: everything that needs the ``train`` extra (torch, onnx, safetensors).

``loop`` trains a generator (``models``, ``effnet``) on ``data`` with ``losses``, optionally on
old-scan inputs (``degrade``), and saves ``checkpoint`` files and ``plots``; ``export`` turns a
checkpoint into a verified ONNX model that follows colorcli.models.contract. Only the train and export
commands import this package, and only when they run: the inference library in ``colorcli`` never
loads torch (tests/test_layout.py checks it).

May import: colorcli.batch, colorcli.scoring, colorcli.models, colorcli.look, colorcli.io and
colorcli.errors; never the command line.
"""
