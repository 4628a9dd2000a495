"""Rule 35 (which track point) from sweep JSONs given in epoch order; prints each point's figures."""
import json, sys
MEAN = "mean of the 3 other-source sets"
best = None
for path in sys.argv[1:]:
    d = json.load(open(path))
    at = d["at_colourfulness"]
    fig = at["28"][MEAN]["ciede2000"] if at["28"][MEAN] else float("inf")
    sets = {k: (round(v["ciede2000"], 2) if v else None) for k, v in at["28"].items()}
    print(path, "figure @28 %.3f" % fig, "@24 %s @32 %s" % (at["24"][MEAN], at["32"][MEAN]), sets)
    if best is None or fig < best[1] - 0.03:
        best = (path, fig)
print("rule 35 picks", best)
