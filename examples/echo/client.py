#!/usr/bin/env python3
"""A faultline client (docs/client-protocol.md) over an in-memory store: no database at all.

It shows the whole protocol in a few lines and measures what the protocol costs
(BENCHMARKS.md). Each subprocess has its own memory, so histories from several workers are not
meant to check valid: this is for `faultline bench-runner --client` and `faultline client-check`.

Workloads: register (read / write / cas on keys), set (add / read), counter (add / read), bank
(transfer / read of 5 accounts of 20).
"""
import json
import sys


def main():
    registers = {}
    elements = set()
    counter = 0
    accounts = {str(a): 20 for a in range(5)}
    workload = None
    out = sys.stdout
    for line in sys.stdin:
        req = json.loads(line)
        kind = req["type"]
        answer = {"id": req["id"], "type": "ok"}
        if kind == "invoke":
            f, value = req["f"], req.get("value")
            if workload == "register":
                key = json.dumps(req.get("key"))
                if f in ("read", "final-read"):
                    answer["value"] = registers.get(key)
                elif f == "write":
                    registers[key] = value
                elif f == "cas":
                    if registers.get(key) == value[0]:
                        registers[key] = value[1]
                    else:
                        answer = {"id": req["id"], "type": "fail", "error": "value did not match"}
            elif workload == "set":
                if f == "add":
                    elements.add(value)
                else:
                    answer["value"] = sorted(elements)
            elif workload == "counter":
                if f == "add":
                    counter += value
                else:
                    answer["value"] = counter
            elif workload == "bank":
                if f == "transfer":
                    src, dst, amount = str(value["from"]), str(value["to"]), value["amount"]
                    if accounts[src] < amount:
                        answer = {"id": req["id"], "type": "fail", "error": "insufficient funds"}
                    else:
                        accounts[src] -= amount
                        accounts[dst] += amount
                else:
                    answer["value"] = dict(accounts)
            else:
                answer = {"id": req["id"], "type": "fail", "error": "unknown workload %r" % workload}
        elif kind == "open":
            workload = req["workload"]
        elif kind == "close":
            out.write(json.dumps(answer) + "\n")
            out.flush()
            return
        out.write(json.dumps(answer) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
