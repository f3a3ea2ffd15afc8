"""API latency: GET /v1/jobs/{id} on a real uvicorn server vs a bare FastAPI route, and decision → resume.

    .venv/bin/python benchmarks/api.py [--requests 2000] [--decisions 5]

Both servers are separate uvicorn processes (one worker each) on this machine, measured in the
same run with the same client: the bare one answers a constant from a one-line FastAPI route,
so the ratio is labloop's own cost (auth, the database read, the response model). Clients are
``httpx`` keep-alive connections; 50 clients means 50 concurrent requests in flight.
Decision → resume: a job on a tiny task with the code gate ``always``; for each checkpoint the
time from sending the decision to the job's next node starting (the ``node`` event's server
timestamp; same host clock), with the real Docker sandbox running the experiments between.

Targets (docs/design.md): p99 <= 20 ms at 50 concurrent clients; decision -> resume <= 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sandbox.reaper import reap_slots  # noqa: E402
from services.store import create_job, events_after, open_store  # noqa: E402
from services.store.schedules import as_utc  # noqa: E402
from tests.services.conftest import free_port, task_files  # noqa: E402

TOKEN = "bench-token-0123456789"
BARE = "from fastapi import FastAPI\napp = FastAPI()\n@app.get('/v1/jobs/{job_id}')\ndef job(job_id: str):\n    return {'id': job_id, 'status': 'running'}\n"


def _wait(url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


def start_labloop(home: Path, port: int) -> subprocess.Popen[bytes]:
    """``labloop serve`` on ``home`` with one token, logs to a file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABLOOP_") and k != "OPENAI_API_KEY"}
    env.update(LABLOOP_HOME=str(home), LABLOOP_PORT=str(port), LABLOOP_API_TOKEN=TOKEN,
               LABLOOP_SANDBOX_POOL_SIZE="1", LABLOOP_LOG_LEVEL="WARNING")
    log = (home / "server.log").open("ab")
    proc = subprocess.Popen([sys.executable, "-c", "from services.cli import main; main()", "serve"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    _wait(f"http://127.0.0.1:{port}/healthz", proc)
    return proc


def start_bare(folder: Path, port: int) -> subprocess.Popen[bytes]:
    """A bare FastAPI route under the same uvicorn."""
    (folder / "bare_app.py").write_text(BARE)
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port),
                             "--log-level", "warning", "--no-access-log"], cwd=folder)
    _wait(f"http://127.0.0.1:{port}/docs", proc)
    return proc


async def _connection(host: str, port: int, request: bytes, n: int, samples: list[float]) -> None:
    # A minimal keep-alive HTTP/1.1 client: httpx at 50 concurrent requests costs more CPU than
    # the servers under test, so it would measure itself.
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for _ in range(n):
            began = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise SystemExit(f"unexpected reply: {head[:80]!r}")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            samples.append((time.perf_counter() - began) * 1000)
    finally:
        writer.close()


async def latencies(port: int, path: str, clients: int, total: int) -> tuple[list[float], float]:
    """Per-request latencies (ms) of ``total`` GETs spread over ``clients`` concurrent connections."""
    request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n").encode()
    await _connection("127.0.0.1", port, request, 50, [])  # warm-up
    samples: list[float] = []
    began = time.perf_counter()
    await asyncio.gather(*(_connection("127.0.0.1", port, request, total // clients, samples) for _ in range(clients)))
    return samples, len(samples) / (time.perf_counter() - began)


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def decision_to_resume(base: str, home: Path, decisions: int) -> list[float]:
    """Milliseconds from sending each decision to the job's next node starting."""
    client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    client.post("/v1/tasks", json={"files": task_files("bench", iterations=decisions)}).raise_for_status()
    job = client.post("/v1/jobs", json={"task": "bench", "gates": {"idea": "never", "code": "always",
                                                                     "finding": "never"}}).json()["id"]
    store = open_store(f"sqlite:///{home / 'labloop.db'}", migrate=False)
    samples: list[float] = []
    seen: set[str] = set()
    while len(samples) < decisions:
        status = client.get(f"/v1/jobs/{job}").json()["status"]
        if status in ("succeeded", "failed", "cancelled"):
            break
        pending = [c for c in client.get("/v1/checkpoints", params={"job_id": job}).json() if c["id"] not in seen]
        if not pending:
            time.sleep(0.02)
            continue
        seen.add(pending[0]["id"])
        last = max((e.id for e in events_after(store, job, 0, 100_000)), default=0)
        sent = time.time()
        client.post(f"/v1/checkpoints/{pending[0]['id']}/decision", json={"action": "approve"}).raise_for_status()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            started = [e for e in events_after(store, job, last) if e.kind == "node"]
            if started:
                samples.append((as_utc(started[0].at).timestamp() - sent) * 1000)
                print(f"decision {len(samples)}: {samples[-1]:.1f} ms", file=sys.stderr)
                break
            time.sleep(0.005)
        else:
            raise SystemExit(f"job {job} did not resume within 60 s")
    store.close()
    return samples


def main() -> None:
    """Run both servers, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="GETs per scenario")
    parser.add_argument("--decisions", type=int, default=5, help="checkpoints decided (0 skips; needs Docker)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="labloop-bench-") as tmp:
        home, lab_port, bare_port = Path(tmp) / "home", free_port(), free_port()
        home.mkdir()
        lab, bare = start_labloop(home, lab_port), start_bare(Path(tmp), bare_port)
        try:
            with open_store(f"sqlite:///{home / 'labloop.db'}", migrate=False) as store:
                job_id = create_job(store, task_name="bench", task_dir=tmp, strategy="search", status="succeeded",
                                    budget={"iterations": 1}, gates={"code": "always"}).id
            rows = []
            for name, port in (("bare FastAPI", bare_port), ("labloop", lab_port)):
                for clients in (1, 50):
                    total = args.requests if clients > 1 else args.requests // 4
                    samples, rate = asyncio.run(latencies(port, f"/v1/jobs/{job_id}", clients, total))
                    rows.append((name, clients, len(samples), statistics.median(samples), pct(samples, 95),
                                 pct(samples, 99), rate))
            resumes = decision_to_resume(f"http://127.0.0.1:{lab_port}", home, args.decisions) if args.decisions else []
        finally:
            lab.terminate()
            bare.terminate()
            lab.wait(15)
            bare.wait(15)
            # A run still in flight when the server stopped leaves its slot's disk mounted; a
            # later labloop process's reaper would remove it, this one ends here.
            reap_slots(home / "sandbox" / "slots", max_age_s=-1)
    print(f"{'GET /v1/jobs/{id}':<18} {'clients':>7} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>8}")
    for name, clients, n, p50, p95, p99, rate in rows:
        print(f"{name:<18} {clients:>7} {n:>8} {p50:>8.2f} {p95:>8.2f} {p99:>8.2f} {rate:>8.0f}")
    for clients in (1, 50):
        bare_row = next(r for r in rows if r[0] == "bare FastAPI" and r[1] == clients)
        lab_row = next(r for r in rows if r[0] == "labloop" and r[1] == clients)
        print(f"labloop / bare at {clients:>2} clients: p50 x{lab_row[3] / bare_row[3]:.1f}, p99 x{lab_row[5] / bare_row[5]:.1f}")
    target = next(r for r in rows if r[0] == "labloop" and r[1] == 50)[5]
    print(f"target p99 <= 20 ms at 50 clients: {target:.2f} ms -> {'met' if target <= 20 else 'MISSED'}")
    if resumes:
        print(f"decision -> next node started ({len(resumes)} decisions): median {statistics.median(resumes):.1f} ms, "
              f"max {max(resumes):.1f} ms -> {'met' if max(resumes) <= 100 else 'MISSED'} (target <= 100 ms)")


if __name__ == "__main__":
    main()
