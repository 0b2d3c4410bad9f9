#!/usr/bin/env node
// A faultline client (docs/client-protocol.md) for NATS JetStream key-value, with the `nats`
// npm package (package-lock.json beside this file; `npm ci` installs it).
//
// Register workload on one KV bucket replicated on 3 servers: write = put, cas = get + update
// with the entry's revision (refused when another write came in between), read = get. Reads go
// to the stream's leader (the bucket does not allow direct gets, which any replica could answer
// from what it has).
//
//   faultline test --db-recipe examples/nats/nats.toml --client 'node examples/nats/client.js' ...
"use strict";
const readline = require("node:readline");
const { connect, StringCodec } = require("nats");

const sc = StringCodec();
const BUCKET = "faultline";

function send(msg) {
  process.stdout.write(JSON.stringify(msg) + "\n");
}

// Never wait longer than faultline does: its answer would be dropped.
function within(ms, promise) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

async function open(req) {
  const timeout = req.options.timeout_ms;
  // Only this worker's own server, also after a reconnect: what it serves is what we see.
  const nc = await connect({
    servers: `${req.address}:4222`,
    ignoreClusterUpdates: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    timeout: Math.max(timeout, 5000),
  });
  const js = nc.jetstream({ timeout });
  // Every worker asks for the same bucket; creating an existing one with the same
  // configuration is a no-op.
  let kv;
  for (let attempt = 0; ; attempt++) {
    try {
      kv = await js.views.kv(BUCKET, { replicas: 3, history: 1, allow_direct: false, timeout });
      break;
    } catch (e) {
      if (attempt >= 20) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return { nc, kv, timeout };
}

async function invoke(db, req) {
  const { f, key, value } = req;
  const k = `r${key}`;
  const isRead = f === "read" || f === "final-read";
  try {
    if (isRead) {
      const e = await within(db.timeout, db.kv.get(k));
      const present = e && e.operation === "PUT";
      return { type: "ok", value: present ? Number(sc.decode(e.value)) : null };
    }
    if (f === "write") {
      await within(db.timeout, db.kv.put(k, sc.encode(String(value))));
      return { type: "ok" };
    }
    if (f === "cas") {
      const [old, next] = value;
      const e = await within(db.timeout, db.kv.get(k));
      if (!e || e.operation !== "PUT" || Number(sc.decode(e.value)) !== old) {
        return { type: "fail", error: "value did not match" };
      }
      try {
        await within(db.timeout, db.kv.update(k, sc.encode(String(next)), e.revision));
      } catch (err) {
        // The server refused the revision: nothing was written.
        if (/wrong last sequence/i.test(String(err.message))) {
          return { type: "fail", error: "revision changed" };
        }
        throw err;
      }
      return { type: "ok" };
    }
    return { type: "fail", error: `unsupported operation ${f}` };
  } catch (err) {
    // A read changed nothing; a write may have been applied.
    return { type: isRead ? "fail" : "info", error: String(err.message || err) };
  }
}

async function main() {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  let db = null;
  for await (const line of rl) {
    if (!line.trim()) continue;
    const req = JSON.parse(line);
    if (req.type === "open") {
      if (req.workload !== "register") {
        send({ id: req.id, type: "fail", error: "this client speaks the register workload only" });
        continue;
      }
      try {
        db = await open(req);
        send({ id: req.id, type: "ok" });
      } catch (e) {
        send({ id: req.id, type: "fail", error: `cannot open: ${e.message || e}` });
      }
    } else if (req.type === "invoke") {
      send({ id: req.id, ...(await invoke(db, req)) });
    } else if (req.type === "close") {
      if (db) await db.nc.close().catch(() => {});
      send({ id: req.id, type: "ok" });
      process.exit(0);
    }
  }
}

main().catch((e) => {
  process.stderr.write(`client failed: ${e.stack || e}\n`);
  process.exit(1);
});
