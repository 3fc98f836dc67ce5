#!/usr/bin/env python3
"""`make bench-proxy`: Portcullis against nginx, side by side, on this machine.

Three setups serve the same 233-byte static file from an nginx upstream:

  direct      wrk -> upstream (plain HTTP; what the machine can do at all)
  nginx       wrk -> nginx (1 worker, TLS 1.3, keep-alive upstream pool) -> upstream
  portcullis  wrk -> Portcullis (TLS 1.3, API-key authentication, an
              authz-rbac check against 10,000 bindings) -> upstream

Both proxies serve the same ECDSA P-256 certificate. Each round starts the
proxies afresh, runs the setups in a rotated order, and measures with wrk
(-t1) at 32 and 128 connections, then paced at ~10,000 req/s with hey. The
main figure is the proxy's CPU time per request, read from /proc (on two
cores wrk and the upstream take CPU too, so req/s alone is not fair). A
round during which other processes used more than a tenth of the machine
is repeated. Output: a table per load with the ratios to nginx, and the
gateway's resident memory idle and under load.

Environment: BENCH_ROUNDS (5), BENCH_SECONDS (10), BENCH_BINDINGS (10000);
BENCH_PROFILE=1 also records, after the rounds and outside the figures, a
`perf` profile of Portcullis under the wrk -c32 load and prints its top
entries (perf from Debian's linux-perf).
"""

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import http.client

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
BINDINGS = int(os.environ.get("BENCH_BINDINGS", "10000"))
PROFILE = os.environ.get("BENCH_PROFILE") == "1"
PROFILE_TOP = 30
WARMUP_SECONDS = 2
# A round during which other processes used more of the machine than this
# is repeated (at most twice).
DISTURBED_SHARE = 0.10
CLK_TCK = os.sysconf("SC_CLK_TCK")
ADMIN = "admin@portcullis.local"
PASSWORD = "bench castle lantern 42"
BODY = b"x" * 232 + b"\n"  # 233 bytes


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on port {port} after {timeout} s")


def pids_of(root):
    """`root` and all its descendants (nginx: master and worker)."""
    found = [root]
    for pid in found:
        try:
            children = open(f"/proc/{pid}/task/{pid}/children").read().split()
        except OSError:
            continue
        found.extend(int(c) for c in children)
    return found


def cpu_seconds(root):
    total = 0
    for pid in pids_of(root):
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CLK_TCK


def machine_busy_seconds():
    """CPU time processes used (user, nice, system) plus what the
    hypervisor took (steal). Interrupt time is left out: loopback traffic
    is processed there and is not charged to the processes it serves."""
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    user, nice, system, steal = fields[0], fields[1], fields[2], fields[7]
    return (user + nice + system + steal) / CLK_TCK


def rss_mib(pid, field="VmRSS"):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def stop_process(process, stop_signal, grace):
    """Stops `process` (if any) with `stop_signal`, killing it after
    `grace` seconds; returns None, the stopped process's new value."""
    if process:
        process.send_signal(stop_signal)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return None


class Nginx:
    def __init__(self, work, name, body):
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir, exist_ok=True)
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(
                f"worker_processes 1;\ndaemon off;\npid {self.dir}/nginx.pid;\n"
                f"error_log {self.dir}/error.log warn;\n"
                "events { worker_connections 4096; }\n"
                f"http {{\n  access_log off;\n  client_body_temp_path {self.dir}/body;\n"
                f"  proxy_temp_path {self.dir}/proxy;\n  fastcgi_temp_path {self.dir}/fcgi;\n"
                f"  uwsgi_temp_path {self.dir}/uwsgi;\n  scgi_temp_path {self.dir}/scgi;\n"
                f"{body}\n}}\n"
            )
        self.conf = conf
        self.process = None

    def start(self, port):
        self.process = subprocess.Popen(
            ["nginx", "-c", self.conf, "-e", os.path.join(self.dir, "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(port)
        return self.process.pid

    def stop(self):
        # SIGQUIT: nginx's graceful stop.
        self.process = stop_process(self.process, signal.SIGQUIT, 10)


class Portcullis:
    def __init__(self, binary, plugins, work, cert, key, upstream_port):
        self.binary = binary
        self.dir = os.path.join(work, "portcullis")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.config = os.path.join(self.dir, "portcullis.toml")
        with open(self.config, "w") as f:
            f.write(
                f'data_dir = "{self.dir}/data"\n\n[server]\nlisten = "127.0.0.1:{self.port}"\n\n'
                f'[tls]\ncert = "{cert}"\nkey = "{key}"\n\n'
                '[auth]\nauthorizer = "authz"\n\n[identity]\nlocal_provider = "local"\n\n'
                f'[plugins.authz]\npath = "{plugins}/authz_rbac.wasm"\ninstances = 4\nmemory_limit_mib = 256\n\n'
                f'[plugins.local]\npath = "{plugins}/authn_local.wasm"\ninstances = 2\ndeadline_ms = 10000\n\n'
                # The other bundled plugins, loaded and pooled but not on the
                # measured path, so the memory figure includes them all.
                f'[plugins.tokens]\npath = "{plugins}/authn_static_token.wasm"\n'
                '[plugins.tokens.config]\ntokens = []\n\n'
                f'[plugins.cedar]\npath = "{plugins}/authz_cedar.wasm"\n'
                '[plugins.cedar.config]\npolicies = "permit(principal, action, resource);"\n\n'
                f'[plugins.static]\npath = "{plugins}/authz_static.wasm"\n'
                '[plugins.static.config]\ndefault = "deny"\nrules = []\n\n'
                f'[plugins.keys]\npath = "{plugins}/keys_local.wasm"\n'
                '[plugins.keys.config]\nkey_id = "bench"\nkey_hex = "' + "ab" * 32 + '"\n\n'
                f'[plugins.secrets]\npath = "{plugins}/secrets_static.wasm"\n'
                '[plugins.secrets.config.secrets]\n"bench/one" = "not a real secret"\n\n'
                '[[routes]]\nname = "bench"\nmethods = ["GET"]\npath = "/bench/{id}"\n'
                f'upstream = "http://127.0.0.1:{upstream_port}"\n'
                'permission = { action = "connections:read", resource = "orgs/{org}/connections/{id}" }\n'
            )
        self.process = None
        self.printed = []

    def start(self):
        self.process = subprocess.Popen(
            [self.binary, "serve", "--config", self.config],
            stdout=subprocess.PIPE,
            stderr=open(os.path.join(self.dir, "gateway.log"), "a"),
            env={**os.environ, "RUST_LOG": "warn"},
            text=True,
        )
        self.printed = []
        for line in self.process.stdout:
            self.printed.append(line.rstrip("\n"))
            if line.startswith("portcullis listening on"):
                break
        else:
            sys.exit(f"the gateway did not start; see {self.dir}/gateway.log")
        # Keep the pipe drained.
        threading_drain(self.process.stdout)
        return self.process.pid

    def stop(self):
        self.process = stop_process(self.process, signal.SIGTERM, 30)

    def request(self, method, path, body=None, token=None):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        connection = http.client.HTTPSConnection("127.0.0.1", self.port, context=context)
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        connection.request(method, path, json.dumps(body) if body is not None else None, headers)
        reply = connection.getresponse()
        data = reply.read()
        connection.close()
        return reply.status, (json.loads(data) if data else None)

    def prepare(self):
        """First start: the administrator's password, an API key, and the
        policy of `BINDINGS` bindings (written into the store while the
        gateway is stopped, as a bulk load)."""
        self.start()
        one_time = next(
            l.split(": ", 1)[1]
            for l in self.printed
            if l.startswith("one-time password")
        ) if any(l.startswith("one-time password") for l in self.printed) else None
        if one_time is None:
            sys.exit("no bootstrap password printed")
        status, reply = self.request("POST", "/auth/login", {"email": ADMIN, "password": one_time})
        assert status == 200, reply
        token = reply["access_token"]
        status, reply = self.request(
            "POST", "/api/v1/me/password",
            {"current_password": one_time, "new_password": PASSWORD}, token)
        assert status == 204, reply
        status, reply = self.request("POST", "/auth/login", {"email": ADMIN, "password": PASSWORD})
        token = reply["access_token"]
        status, reply = self.request(
            "POST", "/api/v1/me/api-keys",
            {"name": "bench", "expires_in_seconds": 86400}, token)
        assert status == 201, reply
        key = reply["key"]
        self.stop()
        db = sqlite3.connect(os.path.join(self.dir, "data", "portcullis.db"))
        db.executemany(
            "INSERT INTO bindings (id, org_id, subject, role_id, scope_kind, scope_id, created_at, created_by)"
            " VALUES (?, 'org_default', ?, 'viewer', 'organization', NULL, 0, 'bench')",
            ((f"bnd_bench_{i}", f"group:bench-{i}") for i in range(BINDINGS)),
        )
        db.execute("UPDATE policy_version SET version = version + 1")
        db.commit()
        db.close()
        return key


def threading_drain(stream):
    import threading

    threading.Thread(target=lambda: [None for _ in stream], daemon=True).start()


def parse_wrk(text):
    requests = int(re.search(r"(\d+) requests in", text).group(1))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    socket_errors = re.search(r"Socket errors: (.*)", text)

    def latency(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    return {
        "requests": requests,
        "rate": rate,
        "p50": latency(50),
        "p99": latency(99),
        "errors": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def parse_hey(text):
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    total = sum(int(n) for n in re.findall(r"\[(?:2\d\d)\]\s+(\d+) responses", text))
    bad = sum(int(n) for code, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", text) if not code.startswith("2"))

    def latency(p):
        m = re.search(rf"\b{p}% in ([\d.]+) secs", text)
        return float(m.group(1)) * 1e3

    return {"requests": total, "rate": rate, "p50": latency(50), "p99": latency(99), "errors": bad, "socket_errors": ""}


def run_load(tool, url, connections, token, pids):
    """One measured run; `pids` are the proxy (or None) and the upstream."""
    header = ["-H", f"Authorization: Bearer {token}"] if token else []
    if tool == "wrk":
        warm = ["wrk", "-t1", f"-c{connections}", f"-d{WARMUP_SECONDS}s", *header, url]
        command = ["wrk", "-t1", f"-c{connections}", f"-d{SECONDS}s", "--latency", *header, url]
    else:  # paced: hey, ~10,000 req/s in all
        per_worker = max(1, 10_000 // connections)
        # Debian's hey puts the URL's IP address in SNI, which TLS forbids
        # (rustls refuses it); name the host instead, for both proxies.
        if url.startswith("https:"):
            header = [*header, "-host", "localhost"]
        warm = ["hey", "-z", f"{WARMUP_SECONDS}s", "-c", str(connections), "-q", str(per_worker), *header, url]
        command = ["hey", "-z", f"{SECONDS}s", "-c", str(connections), "-q", str(per_worker), *header, url]
    subprocess.run(warm, capture_output=True, text=True)
    proxy, upstream = pids
    proxy_before = cpu_seconds(proxy) if proxy else 0.0
    upstream_before = cpu_seconds(upstream)
    busy_before = machine_busy_seconds()
    started = time.time()
    load = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = load.stdout.read()
    _, _, usage = os.wait4(load.pid, 0)
    load.returncode = 0
    elapsed = time.time() - started
    busy = machine_busy_seconds() - busy_before
    proxy_cpu = (cpu_seconds(proxy) - proxy_before) if proxy else 0.0
    upstream_cpu = cpu_seconds(upstream) - upstream_before
    client_cpu = usage.ru_utime + usage.ru_stime
    try:
        result = parse_wrk(output) if tool == "wrk" else parse_hey(output)
    except (AttributeError, ValueError):
        sys.exit(f"cannot read the output of {' '.join(command)}:\n{output}")
    result["cpu_per_request_us"] = proxy_cpu / max(result["requests"], 1) * 1e6
    # CPU the machine spent that neither the client, the upstream nor the
    # proxy did: someone else's load, which makes the round unfair.
    result["foreign_share"] = max(0.0, busy - proxy_cpu - upstream_cpu - client_cpu) / (
        (os.cpu_count() or 1) * elapsed
    )
    return result, output


def profile(gateway, api_key, work):
    """A perf profile of the gateway under wrk -c32: its top entries, as text."""
    if not shutil.which("perf"):
        sys.exit("BENCH_PROFILE=1 needs `perf` (Debian: linux-perf)")
    data = os.path.join(work, "perf.data")
    pid = gateway.start()
    url = f"https://127.0.0.1:{gateway.port}/bench/1"
    header = ["-H", f"Authorization: Bearer {api_key}"]
    subprocess.run(["wrk", "-t1", "-c32", f"-d{WARMUP_SECONDS}s", *header, url], capture_output=True)
    load = subprocess.Popen(["wrk", "-t1", "-c32", f"-d{SECONDS + 2}s", *header, url],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["perf", "record", "-F", "999", "-g", "-p", str(pid), "-o", data,
                    "--", "sleep", str(SECONDS)], capture_output=True, check=True)
    load.wait()
    gateway.stop()
    report = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "dso,symbol",
                             "-g", "none", "--stdio"], capture_output=True, text=True).stdout
    entries = [line[:140] for line in report.splitlines() if line.strip() and not line.startswith("#")]
    return "\n".join([
        f"### perf: Portcullis under wrk -t1 -c32, top {PROFILE_TOP} entries (self time)", "",
        "```", *entries[:PROFILE_TOP], "```"])


def median(values):
    return statistics.median(values) if values else float("nan")


def main():
    binary, plugins = sys.argv[1], sys.argv[2]
    for tool in ("nginx", "wrk", "hey", "openssl"):
        if not shutil.which(tool):
            sys.exit(f"`{tool}` is missing: `make bench-deps` installs it")
    work = tempfile.mkdtemp(prefix="portcullis-bench-")
    # nginx's worker may run as another user: it must be able to read the
    # static file (nothing secret is in this directory but the throwaway
    # benchmark certificate key, kept owner-only below).
    os.chmod(work, 0o755)
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True)
    os.chmod(key, 0o600)
    os.makedirs(os.path.join(work, "www"), exist_ok=True)
    with open(os.path.join(work, "www", "item"), "wb") as f:
        f.write(BODY)
    upstream_port, nginx_port = free_port(), free_port()
    upstream = Nginx(work, "upstream",
        f"  server {{ listen 127.0.0.1:{upstream_port} reuseport; keepalive_requests 1000000;\n"
        f"    location / {{ root {work}/www; try_files /item =404; }} }}")
    proxy = Nginx(work, "proxy",
        f"  upstream origin {{ server 127.0.0.1:{upstream_port}; keepalive 512; }}\n"
        f"  server {{ listen 127.0.0.1:{nginx_port} ssl; ssl_protocols TLSv1.3;\n"
        f"    ssl_certificate {cert}; ssl_certificate_key {key}; keepalive_requests 1000000;\n"
        "    location / { proxy_pass http://origin; proxy_http_version 1.1;\n"
        "      proxy_set_header Connection \"\"; } }")
    gateway = Portcullis(binary, plugins, work, cert, key, upstream_port)
    upstream_pid = upstream.start(upstream_port)
    api_key = gateway.prepare()
    print(f"bench-proxy: {ROUNDS} rounds of {SECONDS} s per setup and load; "
          f"{BINDINGS} bindings; work dir {work}", flush=True)

    setups = {
        "direct": lambda: (None, f"http://127.0.0.1:{upstream_port}/bench/1", None),
        "nginx": lambda: (proxy.start(nginx_port), f"https://127.0.0.1:{nginx_port}/bench/1", None),
        "portcullis": lambda: (gateway.start(), f"https://127.0.0.1:{gateway.port}/bench/1", api_key),
    }
    stops = {"direct": lambda: None, "nginx": proxy.stop, "portcullis": gateway.stop}
    loads = [("wrk", 32), ("wrk", 128), ("hey", 32)]
    results = {(load, name): [] for load in loads for name in setups}
    memory = {"idle": [], "load": []}
    try:
        for round_number in range(ROUNDS):
            order = list(setups)[round_number % 3:] + list(setups)[: round_number % 3]
            for name in order:
                for attempt in range(3):
                    pid, url, token = setups[name]()
                    if name == "portcullis":
                        memory["idle"].append(rss_mib(pid))
                    measured = {}
                    for load in loads:
                        result, output = run_load(load[0], url, load[1], token, (pid, upstream_pid))
                        if result["errors"] or result["requests"] == 0:
                            stops[name]()
                            sys.exit(f"{name} {load}: failed requests:\n{output}")
                        measured[load] = result
                    if name == "portcullis":
                        memory["load"].append(rss_mib(pid, "VmHWM"))
                    stops[name]()
                    foreign = max(r["foreign_share"] for r in measured.values())
                    if foreign <= DISTURBED_SHARE or attempt == 2:
                        for load, result in measured.items():
                            results[(load, name)].append(result)
                        break
                    print(f"  round {round_number + 1} {name}: other processes used "
                          f"{foreign:.0%} of the machine; repeating", flush=True)
            print(f"  round {round_number + 1}/{ROUNDS} done", flush=True)
        profiled = profile(gateway, api_key, work) if PROFILE else None
    finally:
        gateway.stop()
        proxy.stop()
        upstream.stop()

    print()
    for load in loads:
        label = f"wrk -t1 -c{load[1]}" if load[0] == "wrk" else f"hey -c{load[1]}, paced ~10,000 req/s"
        print(f"### {label} (medians of {ROUNDS} rounds)\n")
        print("| setup | req/s | p50 | p99 | proxy CPU per request | CPU vs nginx | req/s vs nginx | p99 vs nginx |")
        print("|---|---|---|---|---|---|---|---|")
        base = {k: median([r[k] for r in results[(load, "nginx")]]) for k in ("rate", "p50", "p99", "cpu_per_request_us")}
        for name in setups:
            m = {k: median([r[k] for r in results[(load, name)]]) for k in ("rate", "p50", "p99", "cpu_per_request_us")}
            cpu = "—" if name == "direct" else f"{m['cpu_per_request_us']:.1f} µs"
            ratio = lambda k: "—" if name == "direct" else f"{m[k] / base[k]:.2f}×"
            print(f"| {name} | {m['rate']:,.0f} | {m['p50']:.2f} ms | {m['p99']:.2f} ms | {cpu} | "
                  f"{ratio('cpu_per_request_us')} | {ratio('rate')} | {ratio('p99')} |")
        print()
    print(f"Portcullis resident memory (every bundled plugin loaded and pooled): "
          f"idle {median(memory['idle']):.0f} MiB, peak under load {median(memory['load']):.0f} MiB")
    if profiled:
        print(f"\n{profiled}")


if __name__ == "__main__":
    main()
