"""A completion or hole filling in a process of its own, for a front end that must run no Python thread
beside its own (Blender: "while threads are running, no code (including the main thread) may use bpy"; its
operators release the GIL, so a fit thread's Python ran inside them, and undo crashed).

The front end starts ``python -c BOOTSTRAP`` (``start``). The process listens on a
``multiprocessing.connection`` address, prints it on one line, and serves requests one after another until
the connection closes (torch and the engine load with the first, about 2 s, and stay loaded):

    front end -> process   ``protocol.Request`` (a use case of ``jobs.cases``, threads); while it runs, ``Cancel``
    process -> front end   ``protocol.Reply``: progress, previews and log lines while it runs, then one outcome
                           (finished with the result, cancelled, or failed with the error)

Replies hold plain data (numpy, Python, ``core.results``, NeuRep's errors), so that reading them in the front
end's process imports no torch. Objects cross by plain ``pickle`` (``send``/``receive``: not the connection's own pickler, to which torch
adds file-descriptor sharing of tensors between related processes), under the same module names on both
sides: the bootstrap makes the packages above this one importable from the front end's folders without
running their ``__init__`` (Blender's extension package imports bpy), and takes the front end's
``sys.path`` (where torch was found). The authentication key travels in the environment, not the command
line.
"""

from __future__ import annotations

import json
import os
import pickle
import queue
import subprocess
import sys
import threading
import traceback

from ..core.errors import FitCancelled, NeuRepError
from .protocol import Cancel, Kind, Reply, Request

BOOTSTRAP = """\
import importlib, json, os, sys, types
setup = json.loads(os.environ.pop("NEUREP_WORKER"))
sys.path[:] = setup["path"]
for name, folders in setup["packages"]:
    stub = types.ModuleType(name)
    stub.__path__ = folders
    sys.modules[name] = stub
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, stub)
importlib.import_module(setup["module"]).serve(bytes.fromhex(setup["key"]))
"""


def start(key: bytes) -> tuple[subprocess.Popen, str]:
    """Start a worker process with this interpreter (Blender's Python inside Blender); returns it and the
    address it listens on, to connect to with ``multiprocessing.connection.Client(address, authkey=key)``.
    Raises ``OSError`` when it cannot start or ends before it listens."""
    package = __package__.rpartition(".")[0]  # above jobs, e.g. bl_ext.user_default.neurep.neurep_addon
    parts = package.split(".")
    above = [".".join(parts[:i]) for i in range(1, len(parts))]
    setup = {"path": list(sys.path), "module": __name__, "key": key.hex(),
             "packages": [(name, list(getattr(sys.modules[name], "__path__", []))) for name in above]}
    process = subprocess.Popen([sys.executable, "-c", BOOTSTRAP], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               env={**os.environ, "NEUREP_WORKER": json.dumps(setup)},
                               creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))  # no console on Windows
    address = process.stdout.readline().decode().strip()
    process.stdout.close()
    if not address:
        process.wait()
        raise OSError(f"the fit's process ended before it started (exit code {process.returncode})")
    return process, address


def send(connection, message) -> None:
    connection.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


def receive(connection):
    return pickle.loads(connection.recv_bytes())


def serve(key: bytes) -> None:
    """The process's side: listen, print the address, serve requests until the connection closes, exit."""
    from multiprocessing.connection import Listener

    with Listener(authkey=key) as listener:
        print(listener.address, flush=True)
        _quiet_stdout()
        with listener.accept() as connection:
            _serve(connection)


def _quiet_stdout() -> None:
    """Nobody reads stdout after the address: it goes to stderr (the console), or nowhere when there is none."""
    try:
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # no stderr (a windowed Blender on Windows)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _serve(connection) -> None:
    """Requests one after another until the front end closes the connection. A reader thread takes every
    message: a ``Cancel`` stops the running request after its current step, requests queue up."""
    requests: queue.Queue = queue.Queue()
    latest = [threading.Event()]  # the cancel event of the latest request read (the front end's current job)

    def read() -> None:
        try:
            while True:
                message = receive(connection)
                if isinstance(message, Cancel):
                    latest[0].set()
                else:  # its event is made here, in the order of the messages, so a ``Cancel`` never misses it
                    latest[0] = threading.Event()
                    requests.put((message, latest[0]))
        except (EOFError, OSError):  # the front end is gone: stop
            pass
        except Exception:  # a message that does not unpickle here: stop, and the front end sees the process end
            traceback.print_exc()
        latest[0].set()
        requests.put(None)

    def reply(kind: Kind, payload=None) -> None:
        try:
            send(connection, Reply(kind, payload))
        except OSError:  # the front end is gone; ``read`` cancels the request
            pass

    threading.Thread(target=read, name="neurep-reader", daemon=True).start()
    while (item := requests.get()) is not None:
        request, cancel = item
        _run(request, cancel, reply)
        _release_memory()


def _release_memory() -> None:
    """Give what the request freed back to the system (glibc keeps it otherwise: the kept process's resident
    memory wandered between 565 and 696 MB over 50 soak completions, 433 MB after the first)."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc (musl): nothing to trim
            pass


def _run(request: Request, cancel: threading.Event, reply) -> None:
    """One request: its use case's progress, previews and log lines while it runs, then its outcome."""
    try:
        import torch

        if request.threads:
            torch.set_num_threads(request.threads)
        result = request.case.run(progress=lambda info: reply(Kind.PROGRESS, info),
                                  preview=lambda v, f, step: reply(Kind.PREVIEW, (v, f, step)), cancel=cancel,
                                  log=lambda line: reply(Kind.LOG, line))
        reply(Kind.FINISHED, result)
    except FitCancelled as exc:
        reply(Kind.CANCELLED, exc)
    except NeuRepError as exc:
        reply(Kind.FAILED, exc)
    except Exception as exc:  # the traceback goes to the console (stderr is the front end's); the user gets one line
        traceback.print_exc()
        reply(Kind.FAILED, plain_error(exc))


def plain_error(exc: BaseException) -> BaseException:
    """``exc`` if the front end can unpickle it without importing anything (a built-in exception), else a
    ``RuntimeError`` that names it: a torch error would load torch into the front end's process."""
    if type(exc).__module__ == "builtins":
        try:
            pickle.loads(pickle.dumps(exc))
            return exc
        except Exception:
            pass
    return RuntimeError(f"{type(exc).__name__}: {exc}")
