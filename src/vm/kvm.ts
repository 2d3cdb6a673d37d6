// KVM is used only where a KVM guest was seen to boot to a ready agent on
// this host: /dev/kvm existing is not enough (on some hosts, nested or
// restricted, QEMU aborts or guests crash at boot). The verdict is cached per
// host kernel and QEMU version in <cache>/kvm-probe.json.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cacheRoot } from './kernels.js';

interface ProbeRecord {
  key: string;
  usable: boolean;
  detail: string;
  at: string;
}

/** The host kernel and QEMU a verdict holds for. */
export function probeKey(): string {
  let qemu = 'unknown';
  try {
    qemu = execFileSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' }).split('\n')[0];
  } catch {
    /* reported by the boot itself */
  }
  return `${os.release()} | ${qemu}`;
}

/** The cached verdict of a KVM test boot on this host kernel and QEMU, or null if none was made. */
export function cachedKvmVerdict(): (ProbeRecord & { file: string }) | null {
  const file = path.join(cacheRoot(), 'kvm-probe.json');
  try {
    const rec = JSON.parse(fs.readFileSync(file, 'utf8')) as ProbeRecord;
    return rec.key === probeKey() ? { ...rec, file } : null;
  } catch {
    return null;
  }
}

export async function kvmUsable(kernel: string, onStatus: (m: string) => void = () => {}): Promise<boolean> {
  try {
    fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
  } catch {
    return false;
  }
  const cached = cachedKvmVerdict();
  if (cached) return cached.usable;
  const file = path.join(cacheRoot(), 'kvm-probe.json');
  const key = probeKey();
  onStatus('probing KVM with a test boot');
  const { Vm } = await import('./vm.js');
  let usable = false;
  let detail = '';
  try {
    const vm = await Vm.boot({ kernel, accel: 'kvm', timeoutMs: 30_000 });
    const r = await vm.exec('true');
    await vm.close();
    usable = r.status === 0;
    detail = `booted in ${vm.bootMs} ms`;
  } catch (e) {
    detail = String((e as Error).message).split('\n').slice(0, 6).join(' | ');
  }
  onStatus(`KVM ${usable ? 'usable' : 'not usable'}: ${detail}`);
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify({ key, usable, detail, at: new Date().toISOString() }, null, 2) + '\n');
  } catch {
    /* not cached: probe again next time */
  }
  return usable;
}
