"""CI checks of deploy/ansible: ansible-lint (production profile), syntax checks, and real runs.

The server role runs for real against this machine (``-c local``) into a throwaway prefix, twice:
the second run must report ``changed=0``. systemd is not running here, so the test then starts
the installed unit's command by hand (as the service user when the test runs as root), sends it
a syslog line over loopback and finds the event with ``siem search`` from the same install.

Installing: the role makes its own virtualenv and pip-installs the project from a copy of this
checkout (a real build and install of ``siem``). The dependencies are not downloaded again: the
role's ``siem_venv_site_dirs`` points the new virtualenv at the site-packages of the project's
.venv, which already holds them (the same mechanism serves air-gapped hosts).
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT, free_port

ANSIBLE_DIR = PROJECT_ROOT / "deploy" / "ansible"
BIN = Path(sys.executable).parent
PLAYBOOKS = ("site.yml", "server.yml", "forwarders.yml", "ca.yml", "rsyslog.yml", "elasticsearch.yml")
MARKER = "ansible-deploy-check"


def _tool(name: str) -> str:
    found = BIN / name
    if found.exists():
        return str(found)
    which = shutil.which(name)
    if which is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]' installs ansible-core and ansible-lint)")
    return which


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(ANSIBLE_DIR / "ansible.cfg"),
        ANSIBLE_HOME=str(home / "ansible-home"),
        ANSIBLE_LOCAL_TEMP=str(home / "ansible-tmp"),
        ANSIBLE_REMOTE_TEMP=str(home / "ansible-tmp"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


def _run(argv: list[str], env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ANSIBLE_DIR, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def test_playbooks_pass_syntax_check(tmp_path: Path) -> None:
    playbook = _tool("ansible-playbook")
    for name in PLAYBOOKS:
        result = _run([playbook, "--syntax-check", "-i", "inventory/example.yml", name], _env(tmp_path))
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"


def test_ansible_lint_production_profile_is_clean(tmp_path: Path) -> None:
    lint = _tool("ansible-lint")
    result = _run([lint, "--offline", "--profile", "production", "--nocolor"], _env(tmp_path), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed" in result.stdout + result.stderr


def _run_ca(ca_dir: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    extra = {
        "siem_ca_dir": str(ca_dir),
        "siem_ca_server_names": ["localhost"],
        "siem_ca_server_addresses": ["127.0.0.1"],
        "siem_ca_forwarders": ["ward-1"],
        "ansible_python_interpreter": sys.executable,
    }
    return _run([_tool("ansible-playbook"), "-i", "localhost,", "ca.yml", "-e", json.dumps(extra)], env)


def test_ca_role_issues_certificates_for_mutual_tls(install: Install) -> None:
    """The CA role ran for real (in the fixture); a second run changes nothing; its certificates
    complete a mutual-TLS handshake with Python's ssl module."""
    import ssl
    import threading

    ca_dir = install.prefix / "pki"
    second = _run_ca(ca_dir, _env(install.prefix))
    assert second.returncode == 0, second.stdout + second.stderr
    assert _recap(second.stdout)["changed"] == 0, second.stdout
    assert stat.S_IMODE((ca_dir / "private" / "ca.key").stat().st_mode) == 0o600

    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(ca_dir / "certs" / "server.pem", ca_dir / "private" / "server.key")
    server.load_verify_locations(ca_dir / "certs" / "ca.pem")
    server.verify_mode = ssl.CERT_REQUIRED
    client = ssl.create_default_context(cafile=str(ca_dir / "certs" / "ca.pem"))
    client.load_cert_chain(ca_dir / "certs" / "ward-1.pem", ca_dir / "private" / "ward-1.key")
    peer: dict[str, object] = {}
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)

        def accept() -> None:
            conn, _ = listener.accept()
            with server.wrap_socket(conn, server_side=True) as tls:
                peer.update(tls.getpeercert() or {})
                tls.sendall(b"ok")

        thread = threading.Thread(target=accept)
        thread.start()
        with (
            socket.create_connection(listener.getsockname(), timeout=10) as raw,
            client.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            assert tls.recv(2) == b"ok"
        thread.join(10)
    subject = dict(item[0] for item in peer["subject"])  # type: ignore[attr-defined]
    assert subject["commonName"] == "ward-1"


def _recap(output: str) -> dict[str, int]:
    match = re.search(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output)
    assert match, f"no PLAY RECAP in:\n{output}"
    ok, changed, unreachable, failed = map(int, match.groups())
    return {"ok": ok, "changed": changed, "unreachable": unreachable, "failed": failed}


@dataclass
class Install:
    prefix: Path
    config: Path
    data_dir: Path
    venv: Path
    user: str
    group: str
    first_output: str
    second_output: str
    extra: dict[str, object]

    def as_service_user(self) -> list[str]:
        """argv prefix that runs a command as the service user (nothing when that is us)."""
        if self.user == pwd.getpwuid(os.getuid()).pw_name:
            return []
        return ["setpriv", f"--reuid={self.user}", f"--regid={self.group}", "--init-groups", "--"]


def _python_for_role() -> str:
    """Debian's python3 when it matches this Python (readable by any user), else our base interpreter."""
    system = Path("/usr/bin/python3")
    if system.exists():
        probe = subprocess.run(
            [str(system), "-c", "import sys, venv; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.stdout.split() == [str(sys.version_info[0]), str(sys.version_info[1])]:
            return str(system)
    return str(getattr(sys, "_base_executable", sys.executable))


def _others_can_run(path: str) -> bool:
    real = Path(path).resolve()
    return all(p.stat().st_mode & stat.S_IXOTH for p in (real, *real.parents))


def _tls_vars(prefix: Path, role: str, name: str) -> dict[str, str]:
    pki = prefix / "pki"
    return {
        f"{role}_tls_cert_src": str(pki / "certs" / f"{name}.pem"),
        f"{role}_tls_key_src": str(pki / "private" / f"{name}.key"),
        f"{role}_tls_ca_src": str(pki / "certs" / "ca.pem"),
    }


def _copy_checkout(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("pyproject.toml", "README.md", "cli.py"):
        shutil.copy2(PROJECT_ROOT / name, dest / name)
    for name in ("siem", "collectors", "rules"):
        shutil.copytree(PROJECT_ROOT / name, dest / name, ignore=ignore)


@pytest.fixture(scope="module")
def install() -> Iterator[Install]:
    """Run the server role twice into a throwaway prefix; yield what it installed."""
    playbook = _tool("ansible-playbook")
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (the CA role runs it)")
    prefix = Path(tempfile.mkdtemp(prefix="siem-ansible-"))
    prefix.chmod(0o755)  # the service user must reach the install below it
    python = _python_for_role()
    me = pwd.getpwuid(os.getuid()).pw_name
    create_user = os.getuid() == 0 and shutil.which("useradd") is not None and _others_can_run(python)
    user = f"siemci{os.getpid() % 100000}" if create_user else me
    group = user if create_user else grp.getgrgid(os.getgid()).gr_name
    for standard in ("etc", "opt", "var/lib", "var/log"):  # as on a real root file system
        (prefix / standard).mkdir(mode=0o755, parents=True)
        (prefix / standard).chmod(0o755)
    source = prefix / "opt" / "siem" / "src"
    source.mkdir(parents=True)
    _copy_checkout(source)
    extra = {
        "siem_root": str(prefix),
        "siem_user": user,
        "siem_group": group,
        "siem_create_user": create_user,
        "siem_config_owner": me,
        "siem_python": python,
        "siem_venv_site_dirs": [sysconfig.get_path("purelib")],
        "siem_install_os_packages": False,
        "siem_manage_services": False,
        "siem_become": False,
        "siem_server_listen_host": "127.0.0.1",
        "siem_server_syslog_port": free_port(),
        "siem_server_syslog_transports": ["tcp"],
        "siem_server_retention_days": 0,
        "siem_server_pipeline_flush_interval": 0.1,
        "siem_server_inventory_src": str(PROJECT_ROOT / "examples" / "inventory.yaml"),
        "siem_server_capture_interfaces": ["lo"],
        "siem_server_jobs": [
            {"name": "scan-weekly", "args": "scan --profile cis-v8 --email", "on_calendar": "Mon *-*-* 07:00"},
            {"name": "report-weekly", "args": "report --period week --email", "on_calendar": "Mon *-*-* 07:30"},
        ],
        "siem_secrets": {"smtp-password": "not-on-any-command-line"},
        "siem_server_email_enabled": True,
        "siem_server_smtp_host": "127.0.0.1",
        "siem_server_smtp_port": free_port(),
        "siem_server_smtp_username": "siem",
        "siem_server_smtp_password_secret": "smtp-password",
        "siem_server_email_routes": [{"name": "it", "recipients": ["it@city.example"], "min_severity": "high"}],
        "siem_server_forwarder_listener": True,
        "siem_server_syslog_tls": True,
        "siem_server_syslog_tls_port": free_port(),
        "siem_forwarder_port": free_port(),
    }
    extra.update(_tls_vars(prefix, "siem_server", "server"))
    inventory = prefix / "inventory.ini"
    inventory.write_text(
        f"[siem_server]\nlocalhost ansible_connection=local ansible_python_interpreter={sys.executable}\n"
    )
    vars_file = prefix / "vars.json"
    vars_file.write_text(json.dumps(extra))
    env = _env(prefix)
    argv = [playbook, "-i", str(inventory), "server.yml", "-e", f"@{vars_file}"]
    try:
        ca = _run_ca(prefix / "pki", env)
        assert ca.returncode == 0, ca.stdout + ca.stderr
        first = _run(argv, env, timeout=300)
        assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-3000:]
        second = _run(argv, env, timeout=300)
        assert second.returncode == 0, second.stdout[-6000:] + second.stderr[-3000:]
        yield Install(
            prefix=prefix,
            config=prefix / "etc" / "siem" / "siem.yaml",
            data_dir=prefix / "var" / "lib" / "siem",
            venv=prefix / "opt" / "siem" / "venv",
            user=user,
            group=group,
            first_output=first.stdout,
            second_output=second.stdout,
            extra=extra,
        )
    finally:
        if create_user:
            subprocess.run(["userdel", user], capture_output=True, check=False)
            subprocess.run(["groupdel", group], capture_output=True, check=False)
        shutil.rmtree(prefix, ignore_errors=True)


def test_server_role_second_run_changes_nothing(install: Install) -> None:
    first, second = _recap(install.first_output), _recap(install.second_output)
    assert first["failed"] == 0 and first["changed"] > 0
    assert second["failed"] == 0 and second["changed"] == 0, install.second_output


def test_server_role_files_have_least_privilege_modes(install: Install) -> None:
    if os.getuid() == 0 and _others_can_run(_python_for_role()):
        assert install.user != "root", "as root the test creates and uses an unprivileged service user"
    service_uid = pwd.getpwnam(install.user).pw_uid
    data = install.data_dir.stat()
    assert stat.S_IMODE(data.st_mode) == 0o700 and data.st_uid == service_uid
    assert stat.S_IMODE(install.config.stat().st_mode) == 0o640
    secret = install.prefix / "etc" / "siem" / "secrets" / "smtp-password"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o640
    assert secret.read_text().strip() == "not-on-any-command-line"
    config = install.config.read_text()
    assert f"password_file: {secret}" in config and "not-on-any-command-line" not in config
    units = install.prefix / "etc" / "systemd" / "system"
    for unit in units.iterdir():
        assert "not-on-any-command-line" not in unit.read_text()
    server = (units / "siem.service").read_text()
    for line in ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", f"User={install.user}"):
        assert line in server
    assert f"ReadWritePaths={install.data_dir} " in server
    assert "CAP_NET_RAW" not in server
    capture = (units / "siem-capture@.service").read_text()
    assert "AmbientCapabilities=CAP_NET_RAW" in capture and "CAP_NET_BIND_SERVICE" not in capture
    timer = (units / "siem-job-scan-weekly.timer").read_text()
    assert "OnCalendar=Mon *-*-* 07:00" in timer and "Persistent=true" in timer
    job = (units / "siem-job-report-weekly.service").read_text()
    assert f"ExecStart={install.venv}/bin/siem --config {install.config} report --period week --email" in job
    assert (install.prefix / "etc" / "logrotate.d" / "siem").is_file()
    assert "net.core.rmem_max = 8388608" in (install.prefix / "etc" / "sysctl.d" / "60-siem.conf").read_text()


def _systemd_analyze(paths: list[Path]) -> list[str]:
    """Complaints of ``systemd-analyze verify`` about lines of these unit files."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    result = subprocess.run(
        [analyze, "verify", *map(str, paths)], capture_output=True, text=True, timeout=60, check=False
    )
    if os.environ.get("SIEM_TEST_SHOW_ANALYZE"):
        print(result.stdout, result.stderr)
    # verify also looks for the units these refer to (network-online.target), which may be missing on
    # a machine without systemd; only complaints that point at a line of our files count.
    return [line for line in result.stderr.splitlines() if any(f"{path}:" in line for path in paths)]


def test_installed_units_pass_systemd_analyze(install: Install) -> None:
    units = install.prefix / "etc" / "systemd" / "system"
    names = ["siem.service", "siem-job-scan-weekly.service", "siem-job-scan-weekly.timer"]
    assert _systemd_analyze([units / name for name in names]) == []


@contextmanager
def _started(install: Install, unit_path: Path, name: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run what a unit's ExecStart runs, as its user and in its directory, until the block ends."""
    unit = unit_path.read_text()
    exec_start = re.search(r"^ExecStart=(.+)$", unit, re.M)
    workdir = re.search(r"^WorkingDirectory=(.+)$", unit, re.M)
    assert exec_start and workdir
    log_path = install.prefix / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*install.as_service_user(), *exec_start.group(1).split()],
            cwd=workdir.group(1),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + 60
        while "listening on" not in log_path.read_text():
            assert process.poll() is None, f"{name} stopped: " + log_path.read_text()
            assert time.monotonic() < deadline, f"{name} did not start: " + log_path.read_text()
            time.sleep(0.1)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0, f"{name} exited with {process.returncode}: " + log_path.read_text()


def _search(install: Install, text: str, timeout: float) -> list[dict[str, object]]:
    """``siem search TEXT --json`` at the centre, as the service user, until something is found."""
    argv = [*install.as_service_user(), str(install.venv / "bin" / "siem"), "--config", str(install.config)]
    found: list[dict[str, object]] = []
    deadline = time.monotonic() + timeout
    while not found and time.monotonic() < deadline:
        result = subprocess.run(
            [*argv, "search", text, "--json"],
            cwd=install.prefix,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        found = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
        time.sleep(0.2)
    return found


def test_installed_service_command_receives_syslog(install: Install) -> None:
    """Start what siem.service runs, by hand, send it a line, and find it with siem search."""
    port = int(re.search(r"port: (\d+)", install.config.read_text()).group(1))  # type: ignore[union-attr]
    with _started(install, install.prefix / "etc" / "systemd" / "system" / "siem.service", "centre-alone"):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as tcp:
            tcp.sendall(f"<38>Nov 25 10:00:00 soc-siem-01 sshd[42]: {MARKER} from the installed service\n".encode())
        found = _search(install, MARKER, timeout=30)
    assert len(found) == 1
    assert MARKER in json.dumps(found[0])
    # The store was written by the service user, and is private to it.
    service_uid = pwd.getpwnam(install.user).pw_uid
    stored = [p for p in install.data_dir.rglob("*") if p.is_file()]
    assert stored and all(p.stat().st_uid == service_uid for p in stored)
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in stored), [
        (p, oct(p.stat().st_mode)) for p in stored
    ]


@dataclass
class Forwarder:
    config: Path
    unit: Path
    syslog_port: int
    second_output: str


@pytest.fixture(scope="module")
def forwarder(install: Install) -> Forwarder:
    """The forwarder role for real into the same prefix (own config, data and log directories,
    the same virtualenv: the second install of the same source changes nothing), run twice."""
    prefix = install.prefix
    port = free_port()
    extra = {
        key: value
        for key, value in install.extra.items()
        if key.startswith(("siem_root", "siem_user", "siem_group", "siem_create", "siem_config_owner", "siem_python"))
        or key in ("siem_venv_site_dirs", "siem_install_os_packages", "siem_manage_services", "siem_become")
        or key == "siem_forwarder_port"
    }
    extra.update(_tls_vars(prefix, "siem_forwarder", "ward-1"))
    extra.update(
        {
            "siem_config_dir": f"{prefix}/etc/siem-forwarder",
            "siem_data_dir": f"{prefix}/var/lib/siem-forwarder",
            "siem_log_dir": f"{prefix}/var/log/siem-forwarder",
            "siem_logrotate_dir": f"{prefix}/etc/logrotate.d/forwarder",
            "siem_forwarder_site": "ward-1",
            "siem_forwarder_central_host": "127.0.0.1",
            "siem_forwarder_central_name": "localhost",
            "siem_forwarder_listen_host": "127.0.0.1",
            "siem_forwarder_syslog_port": port,
            "siem_forwarder_syslog_transports": ["tcp"],
            "siem_forwarder_syslog_tls": False,
            "siem_forwarder_buffer_max_mb": 64,
            "siem_forwarder_pipeline_flush_interval": 0.1,
        }
    )
    inventory = prefix / "forwarders.ini"
    inventory.write_text(
        f"[siem_forwarders]\nlocalhost ansible_connection=local ansible_python_interpreter={sys.executable}\n"
    )
    vars_file = prefix / "forwarder-vars.json"
    vars_file.write_text(json.dumps(extra))
    argv = [_tool("ansible-playbook"), "-i", str(inventory), "forwarders.yml", "-e", f"@{vars_file}"]
    outputs = []
    for _ in range(2):
        result = _run(argv, _env(prefix), timeout=300)
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
        outputs.append(result.stdout)
    return Forwarder(
        config=prefix / "etc" / "siem-forwarder" / "siem.yaml",
        unit=prefix / "etc" / "systemd" / "system" / "siem-forwarder.service",
        syslog_port=port,
        second_output=outputs[1],
    )


def test_forwarder_role_second_run_changes_nothing(forwarder: Forwarder) -> None:
    assert _recap(forwarder.second_output)["changed"] == 0, forwarder.second_output
    config = forwarder.config.read_text()
    assert "role: forwarder" in config and "forwarder.pem" in config
    assert stat.S_IMODE((forwarder.config.parent / "tls" / "forwarder.key").stat().st_mode) == 0o640
    assert _systemd_analyze([forwarder.unit]) == []


def test_line_sent_to_the_installed_forwarder_reaches_the_centre(install: Install, forwarder: Forwarder) -> None:
    """Both installed units started by hand: a line sent to the ward forwarder is stored at the
    centre over the mutual-TLS link, labelled with the ward."""
    marker = f"{MARKER}-via-ward"
    with (
        _started(install, install.prefix / "etc" / "systemd" / "system" / "siem.service", "centre"),
        _started(install, forwarder.unit, "forwarder"),
    ):
        with socket.create_connection(("127.0.0.1", forwarder.syslog_port), timeout=10) as tcp:
            tcp.sendall(f"<38>Nov 25 10:00:00 ward1-fw sshd[7]: {marker}\n".encode())
        found = _search(install, marker, timeout=45)
    assert len(found) == 1
    assert "ward-1" in json.dumps(found[0])


def test_rsyslog_role_config_forwards_over_tls_to_the_installed_server(install: Install) -> None:
    """The rsyslog role writes its file (checked by ``rsyslogd -N1`` as it is put in place); a real
    rsyslogd with that file forwards a line over TLS (x509/name) to the installed server."""
    rsyslogd = shutil.which("rsyslogd")
    if rsyslogd is None:
        pytest.skip("rsyslogd is not installed (apt-get install rsyslog rsyslog-gnutls)")
    work = install.prefix / "rsyslog"
    work.mkdir()
    conf = work / "60-siem-forward.conf"
    extra = {
        "siem_rsyslog_install": False,
        "siem_rsyslog_manage_service": False,
        "siem_rsyslog_owner": pwd.getpwuid(os.getuid()).pw_name,
        "siem_rsyslog_conf": str(conf),
        "siem_rsyslog_target": "127.0.0.1",
        "siem_rsyslog_permitted_peer": "localhost",
        "siem_rsyslog_port": install.extra["siem_server_syslog_tls_port"],
        "siem_rsyslog_ca_src": str(install.prefix / "pki" / "certs" / "ca.pem"),
        "siem_rsyslog_ca_file": str(work / "ca" / "ca.pem"),
        "siem_become": False,
    }
    inventory = work / "inventory.ini"
    inventory.write_text(
        f"[rsyslog_clients]\nlocalhost ansible_connection=local ansible_python_interpreter={sys.executable}\n"
    )
    argv = [_tool("ansible-playbook"), "-i", str(inventory), "rsyslog.yml", "-e", json.dumps(extra)]
    for run in range(2):
        result = _run(argv, _env(install.prefix))
        assert result.returncode == 0, result.stdout + result.stderr
        assert run == 0 or _recap(result.stdout)["changed"] == 0, result.stdout
    assert 'StreamDriverAuthMode="x509/name"' in conf.read_text()

    input_port = free_port()
    main_conf = work / "rsyslog.conf"
    main_conf.write_text(
        f'global(workDirectory="{work}")\n'
        'module(load="imtcp")\n'
        f'input(type="imtcp" address="127.0.0.1" port="{input_port}")\n'
        f'include(file="{conf}")\n'
    )
    marker = f"{MARKER}-via-rsyslog"
    with _started(install, install.prefix / "etc" / "systemd" / "system" / "siem.service", "centre-tls"):
        daemon = subprocess.Popen(
            [rsyslogd, "-n", "-f", str(main_conf), "-i", str(work / "rsyslogd.pid")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    sender = socket.create_connection(("127.0.0.1", input_port), timeout=5)
                    break
                except OSError:
                    assert daemon.poll() is None and time.monotonic() < deadline, "rsyslogd did not start"
                    time.sleep(0.1)
            with sender:
                sender.sendall(f"<38>Nov 25 10:00:00 city-web-01 sshd[9]: {marker}\n".encode())
            found = _search(install, marker, timeout=45)
        finally:
            daemon.terminate()
            _, errors = daemon.communicate(timeout=30)
    assert len(found) == 1, errors.decode(errors="replace")
    assert "city-web-01" in json.dumps(found[0])
