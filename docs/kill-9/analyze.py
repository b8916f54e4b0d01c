import sys, re
d = sys.argv[1]
out = open(f'/tmp/k9/{d}.out').read()
head = [l for l in out.splitlines() if l.startswith('t0 ')][0]
t0 = float(re.search(r't0 epoch%100 ([\d.]+)', head).group(1)); kill = float(re.search(r'killed at ([\d.]+)s', head).group(1))
killE = (t0 + kill) % 100
snaps = []
for l in open(f'/tmp/k9/{d}/poll.out'):
    p = l.split(' state ')
    if len(p) < 2: continue
    ts = float(l.split()[0]) % 100
    owner = l.split()[2]
    ents = []
    for e in p[1].split():
        if e == '-': continue
        b, c = e.split('x'); ents.append((round(float(b) * 1000), int(c)))
    snaps.append((ts, owner, ents))
best = (0, None)
for ts, owner, ents in snaps:
    for i, (b, c) in enumerate(ents):
        tot = sum(c2 for b2, c2 in ents if b <= b2 < b + 1016)
        if tot > best[0]: best = (tot, (ts, b))
owners = sorted(set(o for _, o, _ in snaps))
print(f'{d}: {head[:120]}')
print(f'  kill at epoch%100 {killE:.3f}; owners seen {owners}; store view: most admissions in any 1016 ms run of one snapshot: {best[0]} (snapshot {best[1]})')
# entries that vanished while still inside the span, near the kill
for k in range(len(snaps) - 1):
    ts, o, a = snaps[k]; ts2, o2, b = snaps[k + 1]
    if abs(ts - killE) > 1.5: continue
    hi = max([x for x, _ in b] + [round(ts2 * 1000)])
    gone = [(x, c) for x, c in a if x > hi - 1000 and dict(b).get(x, 0) < c]
    if gone: print(f'  {ts:.3f}->{ts2:.3f} owner {o}->{o2}: vanished inside the span {gone}')
