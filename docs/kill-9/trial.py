"""kill -9 trial: API + 3 clustered gateways, 40 r/s round-robin for 10 s on a global 10/1 s limit, kill -9 one
gateway at 4 s. Prints every forwarded request (API arrival, gateway, RateLimit r) and the max in any 1 s window."""
import sys, os, time, json, threading, subprocess, http.client, random, re, collections
victim = int(sys.argv[1]); timeout = sys.argv[2] if len(sys.argv) > 2 else '50ms'; tag = sys.argv[3] if len(sys.argv) > 3 else 'x'
root = '/work/wt-store'; logs = f'/tmp/k9/{tag}'; os.makedirs(logs, exist_ok=True)
run = f'k9-{random.randint(0, 1 << 30)}'
base = 19000 + random.randint(0, 400) * 10
api_port = base; gw = [(base + 1 + i, base + 5 + i) for i in range(3)]
pol = json.dumps([{"name": "g", "key": "global", "requests": 10, "window": "1s", "onExceed": "reject"}])
fmt = '-Djava.util.logging.SimpleFormatter.format=%1$tT.%1$tL %4$s %3$s: %5$s%6$s%n'
procs = []
def start(name, args, env):
    e = {k: v for k, v in os.environ.items() if not k.startswith('SLUICE_')}; e.update(env)
    p = subprocess.Popen(['java', '-Xmx256m', fmt, '-jar'] + args, cwd=root, env=e,
                         stdout=open(f'{logs}/{name}.out', 'w'), stderr=open(f'{logs}/{name}.err', 'w'))
    procs.append(p); return p
start('api', ['api-verticle/target/api-verticle.jar', '-conf', json.dumps({"http": {"host": "127.0.0.1", "port": api_port}})], {})
gws = []
for i, (pp, mp) in enumerate(gw):
    gws.append(start(f'g{i}', ['gateway-verticle/target/gateway-verticle.jar', '-cluster', '-conf', 'conf/gateway.json'], {
        'SLUICE_CLUSTER_NAME': run, 'SLUICE_HTTP_HOST': '127.0.0.1', 'SLUICE_HTTP_PORT': str(pp),
        'SLUICE_MANAGEMENT_HOST': '127.0.0.1', 'SLUICE_MANAGEMENT_PORT': str(mp),
        'SLUICE_UPSTREAMS': f'http://127.0.0.1:{api_port}', 'SLUICE_POLICIES': pol,
        'SLUICE_LIMITER_STORE_TIMEOUT': timeout}))
def get(port, path):
    try:
        c = http.client.HTTPConnection('127.0.0.1', port, timeout=3); c.request('GET', path); r = c.getresponse()
        b = r.read(); return r.status, dict(r.getheaders()), b
    except Exception as e:
        return -1, {}, b''
try:
    deadline = time.time() + 120
    while time.time() < deadline:
        if all(get(mp, '/health/ready')[0] == 200 for _, mp in gw) and all('Members {size:3' in open(f'{logs}/g{i}.err').read() for i in range(3)):
            break
        time.sleep(0.5)
    else:
        print('not ready'); sys.exit(1)
    time.sleep(3)  # let migrations settle
    hzports = []
    for i in range(3):
        m = re.search(r'Member \[127\.0\.0\.1\]:(\d+) - \S+ this', open(f'{logs}/g{i}.err').read())
        hzports.append(m.group(1))
    print('hazelcast ports', hzports, 'victim port', hzports[victim])
    poll = subprocess.Popen(['java', '-cp', '/tmp/k9/poll:' + root + '/gateway-verticle/target/gateway-verticle.jar', 'Poll', run, '16000'] + hzports,
                            stdout=open(f'{logs}/poll.out', 'w'), stderr=subprocess.STDOUT)
    procs.append(poll)
    time.sleep(3)
    res = []; lock = threading.Lock(); t0 = time.time()
    def one(i, at):
        port = gw[i][0]
        st, h, _ = get(port, '/api/hello')
        with lock: res.append((at, i, st, h))
    th = []
    killed_at = None
    for n in range(400):
        at = n / 40.0
        d = t0 + at - time.time()
        if d > 0: time.sleep(d)
        if killed_at is None and at >= 4.0:
            gws[victim].kill(); killed_at = time.time()
        i = n % 3
        if i == victim and killed_at is not None: i = (i + 1) % 3
        t = threading.Thread(target=one, args=(i, at)); t.start(); th.append(t)
    for t in th: t.join()
    ok = []
    for at, i, st, h in res:
        if st == 200:
            rec = int(h.get('X-Upstream-Received-At', '0')) / 1e6 - t0
            m = re.search(r';r=(\d+)', h.get('RateLimit', '')); ok.append((rec, at, i, int(m.group(1)) if m else -1))
    ok.sort()
    best = (0, 0)
    for a in range(len(ok)):
        b = a
        while b < len(ok) and ok[b][0] < ok[a][0] + 1.0: b += 1
        if b - a > best[0]: best = (b - a, a)
    print(f't0 epoch%100 {t0 % 100:.3f}; victim g{victim} timeout {timeout}: killed at {killed_at - t0:.3f}s; statuses {collections.Counter(st for _, _, st, _ in res)}; max in 1 s window {best[0]} starting {ok[best[1]][0]:.3f}s')
    for rec, at, i, r in ok:
        if 2.5 <= rec <= 7.5: print(f'  arrived {rec:7.3f} (epoch %100 {(t0 + rec) % 100:.3f}) sent {at:6.3f} via g{i} r={r}' + ('   <-- window' if ok[best[1]][0] <= rec < ok[best[1]][0] + 1 else ''))
    for i, (pp, mp) in enumerate(gw):
        if i != victim: print(f'  g{i} stats', get(mp, '/stats')[2].decode()[:400])
finally:
    for p in procs:
        p.terminate()
    time.sleep(3)
    for p in procs:
        if p.poll() is None: p.kill()
