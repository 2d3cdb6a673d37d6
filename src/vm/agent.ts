// mirrorlab guest agent: runs inside the QEMU guest as a child of /init and
// answers JSON-RPC requests from the host on the virtio-serial port named
// org.mirrorlab.rpc. Kept small on purpose: JavaScript JIT code runs hundreds
// of times slower under TCG than on the host, so the agent only dispatches.
//
// Requests:  { "id": n, "method": "exec" | "call" | "loadModule" | "kmsg" | "ping" | "setClock" | "shutdown", "params": [...] }
// Replies:   { "id": n, "result": ... } or { "id": n, "error": <Error> }
// Events:    { "event": "ready", ... } once the agent listens.
//
// A guest restored from a saved state (src/vm/snapshot.ts) resumes inside
// the blocking read below: the new QEMU's RPC socket is connected before the
// guest runs, so the port never looks closed to the guest and nothing here
// reopens it. The host then learns the agent is there from a ping's answer
// (the ready event went to the QEMU that saved the state).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Buffer } from 'node:buffer';
import { decode, frame, LineSplitter } from './codec.js';

import { RPC_PORT_NAME } from './constants.js';
import type { Native } from '../native.js';
const ROOT = '/mirrorlab';

/**
 * The addon, loaded before the ready event: a saved state then holds it
 * loaded, and setClock after a restore costs no dlopen under emulation.
 */
async function loadAddon(): Promise<Native | Error> {
  try {
    return (await import('../addon.js')).native;
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}

/** Sets CLOCK_REALTIME to the host's time, given in ms since the epoch. */
function setClock(addon: Native | Error, epochMs: number): { realtimeMs: number } {
  if (addon instanceof Error) throw new Error(`setClock: the addon did not load: ${addon.message}`);
  if (!Number.isFinite(epochMs) || epochMs < 0) throw new RangeError(`setClock: bad time ${String(epochMs)}`);
  const sec = Math.floor(epochMs / 1000);
  addon.setRealtimeClock(sec, Math.round((epochMs - sec * 1000) * 1e6));
  return { realtimeMs: Date.now() };
}

function findPort(): string {
  const base = '/sys/class/virtio-ports';
  for (const p of fs.readdirSync(base)) {
    try {
      if (fs.readFileSync(path.join(base, p, 'name'), 'utf8').trim() === RPC_PORT_NAME) return `/dev/${p}`;
    } catch {
      /* port without a name */
    }
  }
  throw new Error(`no virtio port named ${RPC_PORT_NAME}`);
}

interface ExecOptions {
  input?: string | Uint8Array;
  cwd?: string;
  env?: Record<string, string>;
}

function exec(cmd: string, args: string[] = [], opts: ExecOptions = {}): Promise<unknown> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd ?? '/',
      env: { PATH: '/bin:/sbin:/usr/bin:/usr/sbin', HOME: '/root', ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
    child.on('error', (e: NodeJS.ErrnoException) =>
      resolve({ status: e.code === 'ENOENT' ? 127 : 126, signal: null, stdout: '', stderr: `${cmd}: ${e.message}\n` }),
    );
    child.on('close', (status, signal) =>
      resolve({
        // Killed by a signal: 128 + its number, as a shell reports it.
        status: status ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0),
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    );
  });
}

async function call(modulePath: string, exportName: string, args: unknown[]): Promise<unknown> {
  const file = path.resolve(ROOT, 'dist', modulePath);
  if (!file.startsWith(`${ROOT}/dist/`)) throw new Error(`module path outside dist/: ${modulePath}`);
  const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  const fn = mod[exportName];
  if (typeof fn !== 'function') throw new TypeError(`${modulePath} has no exported function ${exportName}`);
  return await (fn as (...a: unknown[]) => unknown)(...args);
}

async function loadModule(name: string, params: Record<string, unknown> = {}): Promise<unknown> {
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`bad module name ${name}`);
  const order = `/lib/mirrorlab/modules/${name}.order`;
  if (!fs.existsSync(order)) throw new Error(`module ${name} is not in this initramfs`);
  const args: string[] = [];
  for (const [k, v] of Object.entries(params)) {
    if (!/^[A-Za-z0-9_]+$/.test(k) || /\s/.test(String(v))) throw new Error(`bad module parameter ${k}=${String(v)}`);
    args.push(`${k}=${String(v)}`);
  }
  const loaded: string[] = [];
  const kos = fs.readFileSync(order, 'utf8').split('\n').filter(Boolean);
  for (const ko of kos) {
    const mod = path.basename(ko).replace(/\.ko$/, '').replace(/-/g, '_');
    if (fs.existsSync(`/sys/module/${mod}/initstate`)) continue;
    const r = (await exec('insmod', ko === kos[kos.length - 1] ? [ko, ...args] : [ko])) as { status: number; stderr: string };
    if (r.status !== 0) throw new Error(`insmod ${ko} failed (${r.status}): ${r.stderr.trim()}`);
    loaded.push(mod);
  }
  return { loaded };
}

async function main(): Promise<void> {
  const dev = findPort();
  const addon = await loadAddon();
  const fd = fs.openSync(dev, 'r+');
  const queue: string[] = [];
  let writing = false;
  const send = (msg: unknown): void => {
    queue.push(frame(msg));
    if (!writing) flush();
  };
  const flush = (): void => {
    const s = queue.splice(0).join('');
    if (!s) {
      writing = false;
      return;
    }
    writing = true;
    const buf = Buffer.from(s);
    let off = 0;
    const more = (): void => {
      fs.write(fd, buf, off, buf.length - off, null, (err, n) => {
        if (err) {
          console.error(`mirrorlab-agent: write: ${err.message}`);
          process.exit(3);
        }
        off += n;
        if (off < buf.length) more();
        else flush();
      });
    };
    more();
  };

  let exitStatus: number | null = null;
  const handle = async (req: { id: number; method: string; params: unknown[] }): Promise<unknown> => {
    const p = req.params ?? [];
    switch (req.method) {
      case 'ping':
        return { uptime: fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0] };
      case 'exec':
        return exec(p[0] as string, p[1] as string[], p[2] as ExecOptions);
      case 'call':
        return call(p[0] as string, p[1] as string, (p[2] as unknown[]) ?? []);
      case 'loadModule':
        return loadModule(p[0] as string, (p[1] as Record<string, unknown>) ?? {});
      case 'kmsg':
        fs.writeFileSync('/dev/kmsg', String(p[0]));
        return null;
      case 'setClock':
        return setClock(addon, Number(p[0]));
      case 'shutdown':
        exitStatus = Number(p[0] ?? 0) & 255;
        return null;
      default:
        throw new Error(`unknown method ${req.method}`);
    }
  };

  const lines = new LineSplitter((line) => {
    if (!line.trim()) return;
    let req: { id: number; method: string; params: unknown[] };
    try {
      req = decode(JSON.parse(line)) as typeof req;
    } catch (e) {
      console.error(`mirrorlab-agent: bad request: ${(e as Error).message}`);
      return;
    }
    handle(req).then(
      (result) => {
        send({ id: req.id, result });
        if (exitStatus !== null) {
          // Let the reply drain, then leave; /init powers the guest off.
          // process.exit() would hang: libuv joins its thread pool at exit,
          // and one of its threads sits in a blocking read() on the port.
          // /init reads the status from the file instead.
          const wait = (): void => {
            if (writing) return void setTimeout(wait, 5);
            fs.writeFileSync('/run/mirrorlab-exit-status', `${exitStatus ?? 0}\n`);
            process.kill(process.pid, 'SIGKILL');
          };
          wait();
        }
      },
      (error: unknown) => send({ id: req.id, error: error instanceof Error ? error : new Error(String(error)) }),
    );
  });

  // Reads on a virtio port block in the thread pool until the host writes.
  const buf = Buffer.alloc(1 << 20);
  const read = (): void => {
    fs.read(fd, buf, 0, buf.length, null, (err, n) => {
      if (err) {
        if (err.code === 'EAGAIN' || err.code === 'EINTR') return setTimeout(read, 10);
        console.error(`mirrorlab-agent: read: ${err.message}`);
        process.exit(3);
      }
      if (n === 0) return setTimeout(read, 10); // host not connected yet
      lines.push(Buffer.from(buf.subarray(0, n)));
      read();
    });
  };
  read();
  send({
    event: 'ready',
    uptime: fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0],
    release: fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
  });
}

void main();
