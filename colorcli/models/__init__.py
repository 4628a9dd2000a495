"""Models: the contract an ONNX generator follows, its card, the registry of published models, the
sha256-checked cache and fetch, and the ONNX Runtime session that runs one. The embedded default model
(.onnx and its card) lies in this folder as package data.

May import: colorcli.look, colorcli.io and colorcli.errors. Never torch: training lives in colorcli.training.
"""
