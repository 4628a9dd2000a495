"""Scoring colorizations against colour originals: the metrics (PSNR, SSIM, CIEDE2000, colourfulness),
`colorcli eval`'s evaluation, and FID (the one torch metric, imported only when asked for).

May import: colorcli.models, colorcli.look, colorcli.io and colorcli.errors. It knows nothing of batches.
"""
