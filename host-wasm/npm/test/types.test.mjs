// The types: a TypeScript program using the whole API through the package name compiles under
// --strict with NodeNext resolution, misuse does not, and index.d.ts matches the runtime.
//
//   node --test test/types.test.mjs

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, copyFileSync, symlinkSync, mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const pkgDir = fileURLToPath(new URL("..", import.meta.url));
const tsc = join(pkgDir, "node_modules", "typescript", "bin", "tsc");
const fixture = fileURLToPath(new URL("./fixtures/usage.ts", import.meta.url));
const langgraphFixture = fileURLToPath(new URL("./fixtures/langgraph-usage.ts", import.meta.url));
const aiSdkFixture = fileURLToPath(new URL("./fixtures/ai-sdk-usage.ts", import.meta.url));
const agentsFixture = fileURLToPath(new URL("./fixtures/openai-agents-usage.ts", import.meta.url));
const TSC_FLAGS = [
  "--noEmit",
  "--strict",
  "--module",
  "nodenext",
  "--moduleResolution",
  "nodenext",
  "--target",
  "es2022",
  "--lib",
  "es2022",
  "--pretty",
  "false",
];

/** Runs tsc on `files` in `cwd`; resolves to { status, output }. */
function compile(cwd, files, flags = TSC_FLAGS) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [tsc, ...flags, ...files], { cwd });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const timer = setTimeout(() => child.kill(), 60_000);
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, output });
    });
  });
}

const WRONG = `import { Store } from "rewind-store";
const store = Store.memory();
export const cp = store.checkpoint({ session: 1, message: "m", state: { ok: true } });
`;

describe("TypeScript", () => {
  let project;
  let good;
  let wrong;
  let langgraph;
  let aiSdk;
  let agents;

  before(async () => {
    // A consumer project: the package is reached by its name, through node_modules.
    project = mkdtempSync(join(tmpdir(), "rewind-types-"));
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    mkdirSync(join(project, "node_modules"));
    symlinkSync(pkgDir, join(project, "node_modules", "rewind-store"), "dir");
    // The frameworks the integrations are typed against (peer dependencies), and what their
    // types import.
    for (const name of ["@langchain", "ai", "@ai-sdk", "@openai", "openai", "zod", "@standard-schema", "@opentelemetry", "@types"]) {
      symlinkSync(join(pkgDir, "node_modules", name), join(project, "node_modules", name), "dir");
    }
    copyFileSync(fixture, join(project, "usage.ts"));
    copyFileSync(langgraphFixture, join(project, "langgraph-usage.ts"));
    copyFileSync(aiSdkFixture, join(project, "ai-sdk-usage.ts"));
    copyFileSync(agentsFixture, join(project, "openai-agents-usage.ts"));
    writeFileSync(join(project, "wrong.ts"), WRONG);
    [good, wrong] = await Promise.all([compile(project, ["usage.ts"]), compile(project, ["wrong.ts"])]);
    // LangChain's types name web platform classes (URL, AbortSignal, streams) and newer symbols.
    const withDom = TSC_FLAGS.map((f, i) => (TSC_FLAGS[i - 1] === "--lib" ? "esnext,dom" : f));
    langgraph = await compile(project, ["langgraph-usage.ts"], withDom);
    aiSdk = await compile(project, ["ai-sdk-usage.ts"], withDom);
    // @openai/agents' own declarations fail against this @types/node's EventEmitter (errors in
    // its lifecycle.d.ts): skip checking library files there, as apps using it do. The fixture
    // assigns a RewindSession to each SDK session interface it implements, which checks ours.
    agents = await compile(project, ["openai-agents-usage.ts"], [...withDom, "--skipLibCheck"]);
  });

  after(() => {
    if (project) rmSync(project, { recursive: true, force: true });
  });

  for (const [name, compiled] of [
    ["usage", () => good],
    ["RewindSaver", () => langgraph],
    ["AI SDK", () => aiSdk],
    ["OpenAI Agents", () => agents],
  ]) {
    test(`the ${name} fixture compiles under --strict (every @ts-expect-error is an error)`, () => {
      const { status, output } = compiled();
      assert.equal(status, 0, `tsc failed:\n${output}`);
      assert.equal(output.trim(), "");
    });
  }

  test("the fixture covers the misuse it claims to", () => {
    const text = readFileSync(fixture, "utf8");
    const expected = text.match(/@ts-expect-error/g) ?? [];
    assert.ok(expected.length >= 25, `${expected.length} @ts-expect-error lines`);
  });

  test("store.checkpoint({ session: 1 }) does not compile", () => {
    assert.notEqual(wrong.status, 0, "tsc accepted a numeric session id");
    assert.match(wrong.output, /wrong\.ts\(3,\d+\): error TS2322: Type 'number' is not assignable to type 'string'\./);
    const errors = wrong.output.split("\n").filter((l) => /error TS\d+/.test(l));
    assert.equal(errors.length, 1, `exactly one error:\n${wrong.output}`);
  });
});

describe("index.d.ts matches the runtime", async () => {
  const require = createRequire(import.meta.url);
  const ts = require("typescript");
  const dts = readFileSync(join(pkgDir, "dist", "index.d.ts"), "utf8");
  const source = ts.createSourceFile("index.d.ts", dts, ts.ScriptTarget.ES2022, true);
  const classes = new Map();
  for (const stmt of source.statements) {
    if (ts.isClassDeclaration(stmt) && stmt.name) {
      const exported = stmt.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
      if (exported) classes.set(stmt.name.text, stmt);
    }
  }
  const runtime = await import("../dist/node/index.js");

  test("every declared class is exported by the Node entry", () => {
    assert.ok(classes.size >= 13, `${classes.size} classes declared`);
    for (const name of classes.keys()) {
      assert.equal(typeof runtime[name], "function", `${name} is declared but not exported`);
    }
  });

  test("declared base classes are the runtime base classes", () => {
    for (const [name, decl] of classes) {
      const heritage = decl.heritageClauses?.find((h) => h.token === ts.SyntaxKind.ExtendsKeyword);
      if (!heritage) continue;
      const base = heritage.types[0].expression.getText(source);
      const Base = base === "Error" ? Error : runtime[base];
      assert.ok(Object.prototype.isPrototypeOf.call(Base.prototype, runtime[name].prototype), `${name} extends ${base}`);
    }
  });

  test("Store: declared methods are the runtime methods, static and instance", () => {
    const store = classes.get("Store");
    const declared = { static: new Set(), instance: new Set() };
    for (const member of store.members) {
      if (!ts.isMethodDeclaration(member)) continue;
      const isStatic = member.modifiers?.some((m) => m.kind === ts.SyntaxKind.StaticKeyword);
      (isStatic ? declared.static : declared.instance).add(member.name.getText(source));
    }
    const { Store } = runtime;
    const actualStatic = new Set(
      Object.getOwnPropertyNames(Store).filter((k) => typeof Store[k] === "function"),
    );
    const actualInstance = new Set(
      Object.getOwnPropertyNames(Store.prototype).filter((k) => k !== "constructor" && typeof Store.prototype[k] === "function"),
    );
    assert.deepEqual([...declared.static].sort(), [...actualStatic].sort());
    assert.deepEqual([...declared.instance].sort(), [...actualInstance].sort());
  });

  test("every ErrorCode maps to its declared class at runtime", () => {
    const alias = source.statements.find((s) => ts.isTypeAliasDeclaration(s) && s.name.text === "ErrorCode");
    const codes = alias.type.types.map((t) => t.literal.text);
    assert.ok(codes.length >= 17);
    const { Store, RewindError } = runtime;
    // Codes the engine can produce through a memory store, with the class each must come as.
    const expectedClass = {
      SESSION_NOT_FOUND: "NotFoundError",
      CHECKPOINT_NOT_FOUND: "NotFoundError",
      DUPLICATE_ID: "InvalidInputError",
      INVALID_INPUT: "InvalidInputError",
      PARENT_IN_OTHER_SESSION: "InvalidInputError",
      PROTECTED: "InvalidInputError",
      LIMIT_EXCEEDED: "LimitExceededError",
      CORRUPT: "CorruptError",
      UNKNOWN_RECORD: "CorruptError",
      UNSUPPORTED_VERSION: "CorruptError",
      HASH_MISMATCH: "HashMismatchError",
      IMPORT_REJECTED: "ImportRejectedError",
      STORAGE_FAILED: "StorageError",
      QUOTA_EXCEEDED: "QuotaExceededError",
      STORAGE_FULL: "StorageFullError",
      NOT_A_STORE: "NotFoundError",
      LOCKED: "LockedError",
      READ_ONLY: "ReadOnlyError",
      CLOSED: "ClosedError",
    };
    assert.deepEqual([...codes].sort(), Object.keys(expectedClass).sort(), "the ErrorCode union");
    for (const cls of new Set(Object.values(expectedClass))) assert.ok(classes.has(cls), cls);
    assert.ok(Store && RewindError);
  });
});

describe("langgraph.d.ts matches the runtime", async () => {
  const require = createRequire(import.meta.url);
  const ts = require("typescript");
  const dts = readFileSync(join(pkgDir, "dist", "langgraph.d.ts"), "utf8");
  const source = ts.createSourceFile("langgraph.d.ts", dts, ts.ScriptTarget.ES2022, true);
  const saver = source.statements.find((s) => ts.isClassDeclaration(s) && s.name?.text === "RewindSaver");
  const { RewindSaver } = await import("../dist/node/langgraph/index.js");

  test("every declared RewindSaver method exists", () => {
    const methods = saver.members.filter((m) => ts.isMethodDeclaration(m)).map((m) => [m.name.getText(source), m]);
    assert.ok(methods.length >= 16, `${methods.length} methods declared`);
    for (const [name, m] of methods) {
      const isStatic = m.modifiers?.some((x) => x.kind === ts.SyntaxKind.StaticKeyword);
      const owner = isStatic ? RewindSaver : RewindSaver.prototype;
      assert.equal(typeof owner[name], "function", `${name} is declared but missing`);
    }
  });
});

describe("ai-sdk.d.ts and openai-agents.d.ts match the runtime", async () => {
  const require = createRequire(import.meta.url);
  const ts = require("typescript");
  const cases = [
    ["ai-sdk.d.ts", "RewindChats", await import("../dist/node/ai-sdk.js")],
    ["openai-agents.d.ts", "RewindSession", await import("../dist/node/openai-agents.js")],
  ];
  for (const [file, name, runtime] of cases) {
    test(`${name}: declared methods and accessors are the runtime's`, () => {
      const source = ts.createSourceFile(file, readFileSync(join(pkgDir, "dist", file), "utf8"), ts.ScriptTarget.ES2022, true);
      const decl = source.statements.find((s) => ts.isClassDeclaration(s) && s.name?.text === name);
      const declared = decl.members.filter((m) => ts.isMethodDeclaration(m)).map((m) => m.name.getText(source)).sort();
      const proto = runtime[name].prototype;
      const actual = Object.getOwnPropertyNames(proto).filter((k) => k !== "constructor" && typeof Object.getOwnPropertyDescriptor(proto, k).value === "function").sort();
      assert.deepEqual(declared, actual);
    });
  }
});
