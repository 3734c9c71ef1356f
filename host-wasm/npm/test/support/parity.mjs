// The parity scenario (core/src/conformance/parity.json) through the package's public API:
// every query filter, retention flag and store option, and an error of every kind. The same
// file runs natively, in the WebAssembly component and here (Node.js and Chromium); a filter
// or option the JavaScript binding lacks fails here. No Node.js imports: the page loads it too.

const BASE_BEFORE_NOW_MS = 600_000;

/**
 * Runs `scenario` on a store that `open(options)` returns (options: the scenario's store
 * options). Returns the mismatches, each naming the step; empty when the store behaves as the
 * scenario says.
 */
export async function runParity(scenario, open) {
  const problems = [];
  const store = await open(scenario.options);
  const ids = new Map();
  const labels = new Map();
  const base = Date.now() - BASE_BEFORE_NOW_MS;
  const id = (label) => ids.get(label) ?? label;
  const label = (i) => labels.get(i) ?? i;
  const add = (l, i) => {
    ids.set(l, i);
    labels.set(i, l);
  };
  const withIds = (object, fields) => {
    const out = { ...object };
    for (const f of fields) {
      if (typeof out[f] === "string") out[f] = id(out[f]);
      else if (Array.isArray(out[f])) out[f] = out[f].map(id);
    }
    return out;
  };
  const withTimes = (object, fields) => {
    const out = { ...object };
    for (const [from, to] of fields) {
      if (typeof out[from] === "number") {
        const at = out[from];
        delete out[from];
        out[to] = base + at;
      }
    }
    return out;
  };
  const checkpointInput = (spec) => {
    const { label: l = "", ...rest } = spec;
    const input = withTimes(withIds(rest, ["session", "parent", "id"]), [["at", "createdAt"]]);
    const state = new TextEncoder().encode(JSON.stringify({ label: l, body: l.repeat(200) }));
    return { ...input, state, contentType: "application/json" };
  };
  const query = (q) => withTimes(withIds(q, ["session", "before"]), [["timeFrom", "timeFrom"], ["timeTo", "timeTo"]]);
  const failure = (e) => ({ code: e.code, kind: kindOf(e) });
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

  for (const s of scenario.sessions) {
    try {
      add(s.label, await store.createSession(s.name, s.metadata));
    } catch (e) {
      problems.push(`session ${s.label}: failed with ${e.code} ${e.message}`);
    }
  }
  for (const spec of scenario.checkpoints) {
    try {
      add(spec.label, (await store.checkpoint(checkpointInput(spec))).id);
    } catch (e) {
      problems.push(`checkpoint ${spec.label}: failed with ${e.code} ${e.message}`);
    }
  }
  for (const a of scenario.annotations) {
    await store.annotate(id(a.checkpoint), a.note, a.severity);
  }
  for (const l of scenario.restores) await store.restore(id(l));

  for (const q of scenario.queries) {
    const expected = q.pages ?? [q.expect];
    const got = [];
    let input = query(q.query);
    try {
      for (;;) {
        const page = store.list(input);
        got.push(page.items.map((c) => label(c.id)));
        if (!q.pages || page.next === null || got.length > expected.length) break;
        input = { ...input, cursor: page.next };
      }
    } catch (e) {
      problems.push(`query ${JSON.stringify(q.about)}: failed with ${e.code} ${e.message}`);
      continue;
    }
    if (!same(got, expected)) {
      problems.push(`query ${JSON.stringify(q.about)}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`);
    }
  }
  for (const p of scenario.plans) {
    try {
      const plan = store.planCompaction(withIds(p.policy, ["sessions"]));
      const got = [plan.remove.map((r) => [label(r.id), r.reason]), plan.protected.map((k) => [label(k.id), k.reason])];
      if (!same(got, [p.remove, p.protected])) {
        problems.push(`plan ${JSON.stringify(p.about)}: expected ${JSON.stringify([p.remove, p.protected])}, got ${JSON.stringify(got)}`);
      }
    } catch (e) {
      problems.push(`plan ${JSON.stringify(p.about)}: failed with ${e.code} ${e.message}`);
    }
  }
  for (const e of scenario.errors) {
    const run = {
      checkpoint: () => store.checkpoint(checkpointInput({ label: "error", ...e.input })),
      list: () => store.list(query(e.query)),
      plan: () => store.planCompaction(withIds(e.policy, ["sessions"])),
      annotate: () => store.annotate(id(e.checkpoint), "note", e.severity),
      importJson: () => store.importJson(e.text),
      importBinary: () => store.importBinary(new TextEncoder().encode(e.text)),
    }[e.op];
    try {
      await run();
      problems.push(`error ${JSON.stringify(e.about)}: the operation succeeded`);
    } catch (err) {
      const got = failure(err);
      if (!same(got, { code: e.code, kind: e.kind })) {
        problems.push(`error ${JSON.stringify(e.about)}: expected ${e.code}/${e.kind}, got ${got.code}/${got.kind} (${err.message})`);
      }
    }
  }
  for (const a of scenario.autos) {
    const input = { session: id(a.session), message: a.message, state: {}, createdAt: base + a.at };
    const made = await store.autoCheckpoint(input, a.reason);
    const got = made === null ? "skipped" : "created";
    if (got !== a.expect) problems.push(`auto ${JSON.stringify(a.about)}: expected ${a.expect}, got ${got}`);
  }
  return { problems, store };
}

// The error kinds, by the class the package gives each.
function kindOf(error) {
  const byClass = {
    NotFoundError: "notFound",
    InvalidInputError: "invalidInput",
    LimitExceededError: "limitExceeded",
    CorruptError: "corrupt",
    HashMismatchError: "hashMismatch",
    ImportRejectedError: "importRejected",
    StorageError: "storage",
    QuotaExceededError: "storage",
  };
  return byClass[error.constructor.name] ?? `unexpected ${error.constructor.name}`;
}
