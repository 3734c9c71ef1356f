// A disk that loses power, for file stores in Node.js (test/files.test.mjs): the file calls a
// store makes (the `fileSystem` option; the same calls as src/files.js) kept in memory as a
// volatile image — what the operating system shows — and a durable image — what survives a
// power cut. As POSIX promises and no more: a file's bytes and length become durable when the
// file is synced; a created, renamed or removed name when its directory is synced.
//
// `cutAfter(n)`: the n-th call from now loses power — it and every later call fail with EIO, as
// a dead process makes no more calls. `afterPowerLoss(seed)` is the disk as it comes back: the
// durable image, plus (chosen by `seed`) any of the writes that were never synced, each whole
// or cut short, a later one without an earlier one — a disk may have written any of them on its
// own before the power went. A write within one 512-byte sector lands whole or not at all (what
// disks promise, and what PostgreSQL's pg_control and rewind's DURABLE line rely on).

import path from "node:path";

function failure(code, message) {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

/** A small seeded generator (xorshift). */
function rng(seed) {
  let x = (seed * 2654435761 + 1) >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

export class SimulatedDisk {
  // inode → { bytes (volatile), durable (bytes at the last sync), pending: [writes since] }
  #inodes = new Map();
  #names = new Map(); // path → inode, as the OS shows them
  #durableNames = new Map(); // path → inode, as a power cut leaves them
  #dirs = new Set(["/"]);
  #fds = new Map();
  #nextInode = 1;
  #nextFd = 3;
  #calls = 0;
  #cutAt = Infinity;
  #cut = null; // { inodes, names, unsynced }: the images when the power went
  #locked = null;
  /** Calls made so far (to choose where to cut). */
  get calls() {
    return this.#calls;
  }

  cutAfter(n) {
    this.#cutAt = this.#calls + n;
  }

  get powerLost() {
    return this.#cut !== null;
  }

  #call() {
    if (this.#cut) throw failure("EIO", "the power is off");
    this.#calls += 1;
    if (this.#calls >= this.#cutAt) {
      this.#cut = {
        inodes: new Map([...this.#inodes].map(([ino, f]) => [ino, { durable: f.durable, pending: [...f.pending] }])),
        names: new Map(this.#durableNames),
      };
      throw failure("EIO", "the power went");
    }
  }

  /** The disk as it comes back after the power cut (see the module docs). */
  afterPowerLoss(seed) {
    const cut = this.#cut ?? {
      inodes: new Map([...this.#inodes].map(([ino, f]) => [ino, { durable: f.durable, pending: [...f.pending] }])),
      names: new Map(this.#durableNames),
    };
    const pick = rng(seed);
    const disk = new SimulatedDisk();
    for (const [ino, f] of cut.inodes) {
      let bytes = f.durable;
      // Each unsynced change reached the disk, or not, or (a write across sectors) in part.
      for (const w of f.pending) {
        const choice = pick(3);
        if (choice === 0) continue;
        if (w.kind === "len") {
          bytes = resize(bytes, w.len);
        } else {
          const oneSector = Math.floor(w.offset / 512) === Math.floor((w.offset + w.bytes.length - 1) / 512);
          const keep = choice === 1 && !oneSector ? pick(w.bytes.length + 1) : w.bytes.length;
          bytes = writeInto(bytes, w.bytes.subarray(0, keep), w.offset);
        }
      }
      disk.#inodes.set(ino, { bytes, durable: bytes, pending: [] });
    }
    for (const [name, ino] of cut.names) {
      disk.#names.set(name, ino);
      disk.#durableNames.set(name, ino);
      disk.#dirs.add(path.dirname(name));
    }
    for (const d of this.#dirs) disk.#dirs.add(d);
    disk.#nextInode = this.#nextInode;
    return disk;
  }

  // ----- the calls of src/files.js -----------------------------------------------------------

  async lock(dir) {
    this.createDirAll(dir);
    this.#locked = path.resolve(dir);
  }

  unlock() {
    this.#locked = null;
  }

  holdsLock(dir) {
    return this.#locked === path.resolve(dir);
  }

  open(file, mode) {
    this.#call();
    file = path.resolve(file);
    let ino = this.#names.get(file);
    if (mode === "createNew" && ino !== undefined) throw failure("EEXIST", file);
    if ((mode === "read" || mode === "readWrite") && ino === undefined) throw failure("ENOENT", file);
    if (ino === undefined) {
      if (!this.#dirs.has(path.dirname(file))) throw failure("ENOENT", file);
      ino = this.#nextInode++;
      this.#inodes.set(ino, { bytes: new Uint8Array(), durable: new Uint8Array(), pending: [] });
      this.#names.set(file, ino);
    } else if (mode === "replace") {
      this.#setLen(ino, 0);
    }
    const fd = this.#nextFd++;
    this.#fds.set(fd, ino);
    return fd;
  }

  list(dir) {
    this.#call();
    dir = path.resolve(dir);
    if (!this.#dirs.has(dir)) throw failure("ENOENT", dir);
    return [...this.#names.keys()].filter((n) => path.dirname(n) === dir).map((n) => path.basename(n));
  }

  exists(file) {
    this.#call();
    file = path.resolve(file);
    return this.#names.has(file) || this.#dirs.has(file);
  }

  createDirAll(dir) {
    this.#call();
    // Directories are durable at once (the store's directory is made before anything in it).
    for (let d = path.resolve(dir); !this.#dirs.has(d); d = path.dirname(d)) this.#dirs.add(d);
  }

  rename(from, to) {
    this.#call();
    from = path.resolve(from);
    to = path.resolve(to);
    const ino = this.#names.get(from);
    if (ino === undefined) throw failure("ENOENT", from);
    this.#names.delete(from);
    this.#names.set(to, ino);
  }

  remove(file) {
    this.#call();
    file = path.resolve(file);
    if (!this.#names.delete(file)) throw failure("ENOENT", file);
  }

  syncDir(dir) {
    this.#call();
    dir = path.resolve(dir);
    for (const [name] of this.#durableNames) {
      if (path.dirname(name) === dir && !this.#names.has(name)) this.#durableNames.delete(name);
    }
    for (const [name, ino] of this.#names) {
      if (path.dirname(name) === dir) this.#durableNames.set(name, ino);
    }
  }

  #file(fd) {
    const ino = this.#fds.get(fd);
    if (ino === undefined) throw failure("EBADF", `fd ${fd}`);
    return [ino, this.#inodes.get(ino)];
  }

  readAt(fd, buf, offset) {
    this.#call();
    const [, f] = this.#file(fd);
    const n = Math.max(0, Math.min(buf.length, f.bytes.length - offset));
    buf.set(f.bytes.subarray(offset, offset + n));
    return n;
  }

  writeAt(fd, buf, offset) {
    this.#call();
    const [, f] = this.#file(fd);
    const bytes = Uint8Array.from(buf);
    f.bytes = writeInto(f.bytes, bytes, offset);
    f.pending.push({ kind: "write", bytes, offset });
  }

  #setLen(ino, len) {
    const f = this.#inodes.get(ino);
    f.bytes = resize(f.bytes, len);
    f.pending.push({ kind: "len", len });
  }

  setLen(fd, len) {
    this.#call();
    const [ino] = this.#file(fd);
    this.#setLen(ino, len);
  }

  size(fd) {
    this.#call();
    return this.#file(fd)[1].bytes.length;
  }

  syncData(fd) {
    this.#call();
    const [, f] = this.#file(fd);
    f.durable = f.bytes;
    f.pending = [];
  }

  syncAll(fd) {
    this.syncData(fd);
  }

  close(fd) {
    this.#fds.delete(fd);
  }
}

function resize(bytes, len) {
  if (len <= bytes.length) return bytes.slice(0, len);
  const out = new Uint8Array(len);
  out.set(bytes);
  return out;
}

function writeInto(bytes, data, offset) {
  const out = resize(bytes, Math.max(bytes.length, offset + data.length));
  out.set(data, offset);
  return out;
}
