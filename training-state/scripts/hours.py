import json
rows=[json.loads(l) for l in open('/work/runs/A2/metrics.jsonl')]
t=sum(r['train_time_s']+r['val_time_s'] for r in rows)/60
print(f"A2: {len(rows)} epochs, {t:.1f} min; A + A2: {122.0+t:.1f} min = {(122.0+t)/60:.2f} h")
for r in rows[-3:]:
    vs=r['val_sets']; print(r['epoch'], round(r['train_time_s']+r['val_time_s']), {k:(round(v['ciede2000'],2), round(v['colorfulness'],1)) for k,v in vs.items()} if isinstance(vs, dict) else vs)
