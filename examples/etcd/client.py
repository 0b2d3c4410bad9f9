#!/usr/bin/python3
"""A faultline client for etcd (docs/client-protocol.md) over etcd's JSON gateway, with nothing
but the Python standard library. Register workload: write = put, cas = a txn comparing the
value, read = range (linearizable; --serializable for a local, possibly stale, read).

  faultline test --db-recipe examples/etcd/etcd.toml \
      --client '/usr/bin/python3 examples/etcd/client.py' --workload register ...
"""
import base64
import http.client
import json
import sys


def b64(s):
    return base64.b64encode(str(s).encode()).decode()


class Etcd:
    def __init__(self, address, timeout_s, serializable):
        self.address, self.timeout, self.serializable = address, timeout_s, serializable
        self.conn = None

    def call(self, path, body):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.address, 2379, timeout=self.timeout)
        try:
            self.conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
            resp = self.conn.getresponse()
            data = json.loads(resp.read() or b"{}")
        except Exception:
            # A broken connection is not reused: the next request opens a fresh one.
            self.conn.close()
            self.conn = None
            raise
        if resp.status != 200:
            raise RuntimeError("HTTP %d: %s" % (resp.status, data.get("error") or data.get("message")))
        return data

    def read(self, key):
        body = {"key": b64("r%s" % key)}
        if self.serializable:
            body["serializable"] = True
        kvs = self.call("/v3/kv/range", body).get("kvs") or []
        return int(base64.b64decode(kvs[0]["value"])) if kvs else None

    def write(self, key, value):
        self.call("/v3/kv/put", {"key": b64("r%s" % key), "value": b64(value)})

    def cas(self, key, old, new):
        k = b64("r%s" % key)
        txn = {
            "compare": [{"key": k, "target": "VALUE", "result": "EQUAL", "value": b64(old)}],
            "success": [{"requestPut": {"key": k, "value": b64(new)}}],
        }
        return bool(self.call("/v3/kv/txn", txn).get("succeeded"))


def main():
    serializable = "--serializable" in sys.argv[1:]
    db = None
    for line in sys.stdin:
        req = json.loads(line)
        ans = {"id": req["id"], "type": "ok"}
        if req["type"] == "open":
            db = Etcd(req["address"], req["options"]["timeout_ms"] / 1000.0, serializable)
            if req["workload"] != "register":
                ans = {"id": req["id"], "type": "fail", "error": "register workload only"}
        elif req["type"] == "invoke":
            f, key, value = req["f"], req.get("key"), req.get("value")
            is_read = f in ("read", "final-read")
            try:
                if is_read:
                    ans["value"] = db.read(key)
                elif f == "write":
                    db.write(key, value)
                elif f == "cas" and not db.cas(key, value[0], value[1]):
                    ans = {"id": req["id"], "type": "fail", "error": "value did not match"}
            except Exception as e:
                # A read changed nothing; a write may have been applied.
                ans = {"id": req["id"], "type": "fail" if is_read else "info", "error": "%s: %s" % (type(e).__name__, e)}
        print(json.dumps(ans), flush=True)
        if req["type"] == "close":
            return


if __name__ == "__main__":
    main()
