"""Each hardening default, proven by an experiment that tries to get around it."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from sandbox.result import ExperimentResult
from sandbox.runner import DockerSandbox
from tests.sandbox.conftest import RunExperiment, make_request

pytestmark = pytest.mark.docker


def _host_processes_with(marker: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline and int(pid) != os.getpid():
            found.append(int(pid))
    return found


def test_timeout_kills_the_whole_tree_within_a_second(run_experiment: RunExperiment) -> None:
    marker = f"labloop-tree-{uuid.uuid4().hex[:8]}"
    result = run_experiment(
        f"""
        import subprocess, signal, time
        stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
        subprocess.Popen(["python3", "-c", stubborn, "{marker}"])
        subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 600; : {marker}"])
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(1)
        print("children started", flush=True)
        time.sleep(600)
        """,
        timeout_s=3,
    )

    assert result.status == "timed_out", result
    assert result.error == "killed at the timeout of 3 s"
    assert "children started" in result.stdout_tail
    assert 3.0 <= result.duration_s <= 4.0
    assert _host_processes_with(marker) == []


def test_no_network_interface_but_loopback(run_experiment: RunExperiment) -> None:
    result = run_experiment(
        """
        import json, os, socket
        names = [name for _, name in socket.if_nameindex()]
        print("interfaces:", names)
        try:
            socket.create_connection(("192.0.2.1", 80), timeout=3)
            reached = 1
        except OSError as exc:
            print("connect failed:", exc)
            reached = 0
        json.dump({"interfaces": len(names), "only_lo": float(names == ["lo"]), "reached": reached},
                  open(os.environ["LABLOOP_OUTPUT"] + "/metrics.json", "w"))
        """
    )

    assert result.status == "succeeded", result
    assert result.metrics == {"interfaces": 1, "only_lo": 1, "reached": 0}
    assert "interfaces: ['lo']" in result.stdout_tail


def test_root_is_read_only_and_tmpfs_is_size_limited(run_experiment: RunExperiment) -> None:
    result = run_experiment(
        """
        import errno, json, os
        def try_write(path, size):
            try:
                with open(path, "wb") as f:
                    f.write(b"x" * size)
                return 0
            except OSError as exc:
                return exc.errno
        metrics = {
            "etc": try_write("/etc/owned", 10),
            "usr": try_write("/usr/bin/owned", 10),
            "tmp_small": try_write("/tmp/small", 1_000_000),
            "tmp_big": try_write("/tmp/big", 20_000_000),
            "workspace": try_write("/workspace/scratch", 10),
        }
        print(metrics)
        json.dump(metrics, open(os.environ["LABLOOP_OUTPUT"] + "/metrics.json", "w"))
        """,
        tmpfs_size="8m",
    )

    assert result.status == "succeeded", result
    EROFS, ENOSPC = 30, 28
    assert result.metrics == {"etc": EROFS, "usr": EROFS, "tmp_small": 0, "tmp_big": ENOSPC, "workspace": 0}


def test_runs_as_non_root_without_capabilities(run_experiment: RunExperiment) -> None:
    result = run_experiment(
        """
        import json, os
        status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
        print({k: status[k].strip() for k in ("Uid", "Gid", "CapEff", "CapPrm", "CapBnd", "NoNewPrivs")})
        try:
            os.setuid(0)
            became_root = 1
        except PermissionError:
            became_root = 0
        json.dump({
            "uid": os.getuid(), "euid": os.geteuid(),
            "cap_eff": int(status["CapEff"], 16), "cap_prm": int(status["CapPrm"], 16),
            "cap_bnd": int(status["CapBnd"], 16), "no_new_privs": int(status["NoNewPrivs"]),
            "became_root": became_root,
        }, open(os.environ["LABLOOP_OUTPUT"] + "/metrics.json", "w"))
        """
    )

    assert result.status == "succeeded", result
    assert result.metrics == {
        "uid": 65534, "euid": 65534, "cap_eff": 0, "cap_prm": 0, "cap_bnd": 0,
        "no_new_privs": 1, "became_root": 0,
    }


def test_a_memory_bomb_is_reported_as_oom_killed(run_experiment: RunExperiment) -> None:
    result = run_experiment(
        """
        hog = []
        while True:
            hog.append(b"x" * (8 << 20))
            print(len(hog) * 8, "MiB", flush=True)
        """,
        memory="96m",
        timeout_s=60,
    )

    assert result.status == "oom_killed", result
    assert result.exit_code == 137
    assert result.error is not None and "out of memory (limit 96m" in result.error


def _host_processes_in_container(container_id: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if container_id in Path(f"/proc/{pid}/cgroup").read_text():
                found.append(int(pid))
        except OSError:
            continue
    return found


def test_a_fork_bomb_is_contained_and_the_host_is_fine(run_experiment: RunExperiment) -> None:
    result = run_experiment(
        """
        import json, os, socket, time
        children = 0
        while True:  # fork until the kernel refuses; every child holds its process slot
            try:
                pid = os.fork()
            except OSError as exc:
                print("fork refused after", children, "children:", exc, flush=True)
                break
            if pid == 0:
                time.sleep(600)
                os._exit(0)
            children += 1
        print("container", socket.gethostname(), flush=True)
        json.dump({"children": children}, open(os.environ["LABLOOP_OUTPUT"] + "/metrics.json", "w"))
        """,
        pids=64,
        timeout_s=60,
    )

    assert result.status == "succeeded", result
    assert 40 <= result.metrics["children"] < 64, result.stdout_tail  # stopped at the pids limit
    container_id = result.stdout_tail.split("container ")[1].split()[0]
    deadline = time.monotonic() + 5
    while _host_processes_in_container(container_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _host_processes_in_container(container_id) == []  # every child died with the container
    host = subprocess.run(["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do true & done; wait; echo ok"],
                          capture_output=True, text=True, timeout=10)
    assert host.stdout.strip() == "ok"


def test_host_secrets_are_not_visible_inside(
    run_experiment: RunExperiment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABLOOP_API_TOKEN", "host-token-5f1c")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-host-9a7e")
    monkeypatch.setenv("LABLOOP_LLM_API_KEY", "sk-host-llm-3b2d")
    result = run_experiment(
        """
        import os
        print(sorted(os.environ.items()))
        print(open("/proc/1/environ", "rb").read().replace(b"\\0", b" ").decode())
        """,
        env={"EXTRA_SETTING": "passed-on"},
        seed=42,
    )

    assert result.status == "failed" and "no metrics.json" in (result.error or "")
    seen = result.stdout_tail
    for secret in ("host-token-5f1c", "sk-host-9a7e", "sk-host-llm-3b2d", "API_TOKEN", "OPENAI"):
        assert secret not in seen
    assert "('EXTRA_SETTING', 'passed-on')" in seen
    assert "('LABLOOP_SEED', '42')" in seen
    labloop_vars = {k for k, _ in ast.literal_eval(seen.splitlines()[0]) if k.startswith("LABLOOP_")}
    assert labloop_vars == {"LABLOOP_SEED", "LABLOOP_OUTPUT"}


def test_two_experiments_at_once_cannot_see_each_others_files(
    docker_sandbox: DockerSandbox, tmp_path: Path
) -> None:
    code = """
    import json, os, time
    me = os.environ["WHO"]
    open(f"/tmp/private-{me}", "w").write(me)
    open(f"{os.environ['LABLOOP_OUTPUT']}/private-{me}", "w").write(me)
    started = time.time()
    time.sleep(2)
    seen = []
    for top in ("/workspace", "/output", "/tmp", "/labloop", "/var/tmp", "/home", "/root", "/mnt"):
        for folder, dirs, files in os.walk(top):
            seen += dirs + files
    seen.append(open("/proc/mounts").read())
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
    print(json.dumps({"seen": seen, "pids": len(pids)}))
    json.dump({"started": started, "ended": time.time(), "pids": len(pids)},
              open(os.environ["LABLOOP_OUTPUT"] + "/metrics.json", "w"))
    """
    results: dict[str, ExperimentResult] = {}

    def run(who: str) -> None:
        request = make_request(tmp_path / who, code, files={f"input-{who}.txt": who})
        results[who] = docker_sandbox.run(type(request)(**{**request.__dict__, "env": {"WHO": who}}))

    threads = [threading.Thread(target=run, args=(who,)) for who in ("alpha", "bravo")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    alpha, bravo = results["alpha"], results["bravo"]
    assert alpha.status == bravo.status == "succeeded", results
    assert alpha.metrics["started"] < bravo.metrics["ended"] and bravo.metrics["started"] < alpha.metrics["ended"]
    for me, other in (("alpha", "bravo"), ("bravo", "alpha")):
        seen = json.loads(results[me].stdout_tail)["seen"]
        assert f"private-{me}" in seen and f"input-{me}.txt" in seen
        assert not any(other in entry for entry in seen), f"{me} saw {other}'s files"
        assert results[me].metrics["pids"] <= 4  # init, launcher, the experiment: none of the other
