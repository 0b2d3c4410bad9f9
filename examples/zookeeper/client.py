#!/usr/bin/python3
"""A faultline client for ZooKeeper (docs/client-protocol.md), using kazoo (Debian: python3-kazoo).

Register workload, one znode per key under /faultline:
  write = set (create on first write), cas = get + set with the znode's version, read = get.
With --sync every read is preceded by sync() on its znode, so the server that answers has caught
up with the leader first; without it reads are served from whatever the client's own server has
(ZooKeeper promises sequential consistency, not linearizable reads). See README.md.

Run as faultline runs it:
  faultline test --db-recipe examples/zookeeper/zookeeper.toml \
      --client '/usr/bin/python3 examples/zookeeper/client.py --sync' --workload register ...
"""
import json
import sys

from kazoo.client import KazooClient
from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError
from kazoo.handlers.threading import KazooTimeoutError

ROOT = "/faultline"


class Register:
    def __init__(self, address, timeout_s, sync_reads):
        self.timeout = timeout_s
        self.sync_reads = sync_reads
        # Only this worker's own server: what it serves is what the worker sees. Kazoo reconnects
        # to it by itself after a partition heals.
        self.zk = KazooClient(hosts="%s:2181" % address, timeout=10.0)
        self.zk.start(timeout=max(5.0, timeout_s))
        self.zk.ensure_path(ROOT)

    def path(self, key):
        return "%s/r%s" % (ROOT, key)

    def wait(self, async_result):
        # Never block longer than faultline waits; the answer would be dropped anyway.
        return async_result.get(timeout=self.timeout)

    def read(self, key):
        path = self.path(key)
        if self.sync_reads:
            self.wait(self.zk.sync_async(path))
        try:
            data, _ = self.wait(self.zk.get_async(path))
        except NoNodeError:
            return None
        return int(data)

    def write(self, key, value):
        path = self.path(key)
        data = str(value).encode()
        try:
            self.wait(self.zk.set_async(path, data))
        except NoNodeError:
            try:
                self.wait(self.zk.create_async(path, data))
            except NodeExistsError:
                self.wait(self.zk.set_async(path, data))

    def cas(self, key, old, new):
        """True when it swapped; False when it certainly did not."""
        path = self.path(key)
        try:
            data, stat = self.wait(self.zk.get_async(path))
        except NoNodeError:
            return False
        if int(data) != old:
            return False
        try:
            self.wait(self.zk.set_async(path, str(new).encode(), version=stat.version))
        except (BadVersionError, NoNodeError):
            return False
        return True

    def close(self):
        self.zk.stop()
        self.zk.close()


def answer(out, req_id, kind, value=None, error=None, with_value=False):
    msg = {"id": req_id, "type": kind}
    if with_value:
        msg["value"] = value
    if error is not None:
        msg["error"] = error
    out.write(json.dumps(msg) + "\n")
    out.flush()


def invoke(reg, req):
    f, key, value = req["f"], req.get("key"), req.get("value")
    is_read = f in ("read", "final-read")
    try:
        if is_read:
            return ("ok", reg.read(key), True, None)
        if f == "write":
            reg.write(key, value)
            return ("ok", None, False, None)
        if f == "cas":
            if reg.cas(key, value[0], value[1]):
                return ("ok", None, False, None)
            return ("fail", None, False, "value or version did not match")
        return ("fail", None, False, "unsupported operation %r" % f)
    except (KazooTimeoutError, Exception) as e:  # noqa: B014 - every error is an outcome
        # A read changed nothing: fail. A write may have been applied: info.
        return ("fail" if is_read else "info", None, False, "%s: %s" % (type(e).__name__, e))


def main():
    sync_reads = "--sync" in sys.argv[1:]
    out = sys.stdout
    reg = None
    for line in sys.stdin:
        req = json.loads(line)
        kind, req_id = req["type"], req["id"]
        if kind == "open":
            if req["workload"] != "register":
                answer(out, req_id, "fail", error="this client speaks the register workload only")
                continue
            try:
                reg = Register(req["address"], req["options"]["timeout_ms"] / 1000.0, sync_reads)
            except Exception as e:
                answer(out, req_id, "fail", error="cannot connect: %s" % e)
                continue
            answer(out, req_id, "ok")
        elif kind == "invoke":
            k, v, with_value, err = invoke(reg, req)
            answer(out, req_id, k, v, err, with_value)
        elif kind == "close":
            if reg is not None:
                reg.close()
            answer(out, req_id, "ok")
            return


if __name__ == "__main__":
    main()
