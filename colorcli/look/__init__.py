"""The colour decisions about a scan: Lab conversion and the chroma merge (`lab`), whether a scan is a
grey or toned print or a colour photograph (`tone`), where a mounted print lies on its card
(`mount_find`) and colorizing that print alone (`mount_colorize`).

May import: colorcli.io and colorcli.errors. It never loads a model or scores a result.
"""
