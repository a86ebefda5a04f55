"""Summarises ONNX Runtime profiles written by `bench --profile PREFIX`: per operator type, the time
of the longest run (the timed prefill) and the mean over the last decode steps.

    python3 profile_summary.py PREFIX_*.json
"""
import bisect
import collections
import json
import sys


def summarise(path, last=10):
    events = json.load(open(path))
    runs = sorted((e['ts'], e['ts'] + e['dur']) for e in events if e.get('name') == 'model_run')
    if not runs:
        return
    nodes = [e for e in events if e.get('cat') == 'Node' and e.get('name', '').endswith('_kernel_time')]
    per_run = [collections.Counter() for _ in runs]
    starts = [r[0] for r in runs]
    for e in nodes:
        i = bisect.bisect_right(starts, e['ts']) - 1
        if i >= 0 and e['ts'] <= runs[i][1]:
            per_run[i][e.get('args', {}).get('op_name', '?')] += e['dur']
    durations = [b - a for a, b in runs]
    longest = max(range(len(runs)), key=durations.__getitem__)
    decode = list(range(len(runs)))[-last:]
    print(f'{path}: {len(runs)} runs; longest {durations[longest] / 1e3:.1f} ms; '
          f'last {len(decode)} mean {sum(durations[i] for i in decode) / len(decode) / 1e3:.2f} ms')
    ops = collections.Counter()
    for i in decode:
        ops.update(per_run[i])
    for name, us in per_run[longest].most_common(12):
        print(f'  prefill {name:28s} {us / 1e3:9.1f} ms')
    for name, us in ops.most_common(12):
        print(f'  decode  {name:28s} {us / len(decode) / 1e3:9.2f} ms/step')


for p in sys.argv[1:]:
    summarise(p)
