"""pip in a background process: progress parsed from its output, cancel, one install at a time.

The process writes to a log file through a reader thread (which never touches ``bpy``); the main thread
polls ``PipInstall.poll()`` from a timer (or a waiting loop in background mode) and shows the figures.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field

from ..jobs.kinds import JobState

RUNNING, FINISHED, CANCELLED, FAILED = JobState

RAW_PROGRESS = re.compile(r"^Progress (\d+) of (\d+)\s*$")
"""pip >= 24.1 with ``--progress-bar raw``: bytes done and total of the current download."""
DOWNLOADING = re.compile(r"Downloading (\S+?)(?: \(([\d.]+) ([kMG]?B)\))?\s*$")
"""``Downloading https://.../torch-2.13.0+cpu-....whl (190.4 MB)``: the file and its size (any pip)."""
BAR_PROGRESS = re.compile(r"([\d.]+)/([\d.]+) ([kMG]?B)")
"""pip's rich bar with ``--progress-bar on`` when it redraws into a file: ``45.2/190.4 MB``."""
UNITS = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}


@dataclass
class InstallProgress:
    """What the panel shows: the package being downloaded, MB done of MB, and the latest pip line."""

    package: str = ""
    done_bytes: float = 0.0
    total_bytes: float = 0.0
    files_done: int = 0
    line: str = ""

    @property
    def fraction(self) -> float:
        return min(self.done_bytes / self.total_bytes, 1.0) if self.total_bytes else 0.0

    def text(self) -> str:
        if self.total_bytes and self.done_bytes:
            return (f"{self.package}: {self.done_bytes / 1e6:.1f} of {self.total_bytes / 1e6:.1f} MB "
                    f"({100 * self.fraction:.0f}%)")
        if self.total_bytes:  # a pip without raw progress says only what it downloads, and its size
            return f"{self.package}: downloading {self.total_bytes / 1e6:.1f} MB"
        return self.line or "starting pip"

    def feed(self, line: str) -> None:
        """Update from one line of pip's output."""
        line = line.strip()
        if not line:
            return
        raw = RAW_PROGRESS.match(line)
        if raw:
            self.done_bytes, self.total_bytes = float(raw.group(1)), float(raw.group(2))
            return
        download = DOWNLOADING.search(line)
        if download:
            if self.total_bytes and self.done_bytes >= self.total_bytes:
                self.files_done += 1
            self.package = os.path.basename(download.group(1)).split("-")[0]
            self.done_bytes = 0.0
            self.total_bytes = float(download.group(2)) * UNITS[download.group(3)] if download.group(2) else 0.0
        else:
            bar = BAR_PROGRESS.search(line)
            if bar and self.total_bytes:
                self.done_bytes = float(bar.group(1)) * UNITS[bar.group(3)]
                return
        self.line = line[:120]


def failure_summary(log_text: str, returncode: int | None) -> str:
    """One or two sentences on why pip failed, from its log: its ERROR lines, in plain words where known."""
    errors = [line.strip() for line in log_text.splitlines() if line.strip().startswith("ERROR:")]
    text = " ".join(errors)
    if any(word in log_text for word in ("NewConnectionError", "Temporary failure in name resolution",
                                          "Failed to establish", "ConnectTimeout", "ReadTimeout")):
        hint = "the package index could not be reached (network); use a folder of wheels to install offline"
    elif "No matching distribution" in text or "Could not find a version" in text:
        hint = ("pip found no matching build for this Blender's Python and platform"
                if "--no-index" not in log_text else "the wheels folder lacks a matching file")
    elif "No space left on device" in log_text:
        hint = "the disk is full"
    elif "Permission denied" in log_text:
        hint = "a folder is not writable"
    else:
        hint = f"pip stopped with exit code {returncode}"
    return f"{hint}: {errors[-1][6:].strip()}" if errors else hint


@dataclass
class PipInstall:
    """One pip process. ``start()``; ``poll()`` from the main thread; ``cancel()`` stops it and its children."""

    command: list[str]
    log_path: str
    env: dict = field(default_factory=dict)
    state: str = RUNNING
    progress: InstallProgress = field(default_factory=InstallProgress)
    returncode: int | None = None
    error: str = ""
    started: float = 0.0

    def start(self) -> "PipInstall":
        self.started = time.monotonic()
        self._log = open(self.log_path, "w", encoding="utf-8", errors="replace")
        self._log.write(" ".join(self.command) + "\n")
        self._log.flush()
        environment = {**os.environ, "PYTHONNOUSERSITE": "1", "PYTHONUNBUFFERED": "1", **self.env}
        extra = {"start_new_session": True} if os.name == "posix" else \
            {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
        self._process = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=environment, **extra)
        self._lock = threading.Lock()
        self._cancelled = False
        self._reader = threading.Thread(target=self._read, name="neurep-pip", daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        buffer = b""
        while True:
            chunk = self._process.stdout.read1(4096) if hasattr(self._process.stdout, "read1") else \
                self._process.stdout.read(4096)
            if not chunk:
                break
            buffer += chunk
            *lines, buffer = re.split(rb"[\r\n]", buffer)  # pip's bars redraw with \r
            for raw in lines:
                line = raw.decode("utf-8", "replace")
                if not RAW_PROGRESS.match(line.strip()):
                    self._log.write(line + "\n")
                with self._lock:
                    self.progress.feed(line)
        if buffer:
            with self._lock:
                self.progress.feed(buffer.decode("utf-8", "replace"))
            self._log.write(buffer.decode("utf-8", "replace") + "\n")
        self._log.flush()

    def poll(self) -> str:
        """RUNNING until pip has exited and its output is read; then FINISHED, FAILED or CANCELLED."""
        if self.state != RUNNING:
            return self.state
        if self._process.poll() is None or self._reader.is_alive():
            return RUNNING
        self._reader.join()
        self._log.close()
        self.returncode = self._process.returncode
        if self._cancelled:
            self.state = CANCELLED
        elif self.returncode == 0:
            self.state = FINISHED
        else:
            with open(self.log_path, encoding="utf-8", errors="replace") as log:
                self.error = failure_summary(log.read(), self.returncode)
            self.state = FAILED
        return self.state

    def snapshot(self) -> InstallProgress:
        with self._lock:
            return InstallProgress(**vars(self.progress))

    def cancel(self) -> None:
        """Stop pip and whatever it started (safe to call more than once)."""
        if self._process.poll() is not None:
            return
        self._cancelled = True
        try:
            if os.name == "posix":
                os.killpg(self._process.pid, signal.SIGTERM)
            else:
                self._process.terminate()
        except ProcessLookupError:
            pass

    def wait(self, timeout: float | None = None) -> str:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() == RUNNING:
            if deadline is not None and time.monotonic() > deadline:
                break
            time.sleep(0.05)
        return self.state


_current: PipInstall | None = None


def current() -> PipInstall | None:
    """The install running now, or the last one (its outcome stays readable); None before any."""
    return _current


def is_running() -> bool:
    return _current is not None and _current.poll() == RUNNING


def start(command: list[str], log_path: str, env: dict | None = None) -> PipInstall:
    """Start pip unless one runs already (``RuntimeError``); only one install at a time."""
    global _current
    if is_running():
        raise RuntimeError("an install is already running; wait for it or cancel it")
    _current = PipInstall(command, log_path, env or {}).start()
    return _current


def stop() -> None:
    """Cancel the running install and wait for pip to end (add-on disabled, Blender quits)."""
    if is_running():
        _current.cancel()
        _current.wait(timeout=10.0)
