// KVM is used only where a KVM guest was seen to boot to a ready agent on
// this host: /dev/kvm existing is not enough (on some hosts, nested or
// restricted, QEMU aborts or guests crash at boot). The verdict is cached per
// host kernel and QEMU version in <cache>/kvm-probe.json. This module only
// reads and records verdicts; the test boot that makes one is the runner's
// (kvmUsable in vm.ts), so that nothing here depends on the runner.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cacheRoot } from './kernels.js';
import { writeFileAtomic } from '../atomic-file.js';

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

const verdictFile = (): string => path.join(cacheRoot(), 'kvm-probe.json');

/** The cached verdict of a KVM test boot on this host kernel and QEMU, or null if none was made. */
export function cachedKvmVerdict(): (ProbeRecord & { file: string }) | null {
  const file = verdictFile();
  try {
    const rec = JSON.parse(fs.readFileSync(file, 'utf8')) as ProbeRecord;
    return rec.key === probeKey() ? { ...rec, file } : null;
  } catch {
    return null;
  }
}

/** Whether /dev/kvm can be opened for reading and writing: needed, never enough. */
export function kvmDeviceOpens(): boolean {
  try {
    fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Caches the verdict of a KVM test boot (made by the runner, vm.ts) for this host kernel and QEMU. */
export function recordKvmVerdict(usable: boolean, detail: string): void {
  const file = verdictFile();
  const rec: ProbeRecord = { key: probeKey(), usable, detail, at: new Date().toISOString() };
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    writeFileAtomic(file, JSON.stringify(rec, null, 2) + '\n'); // guests booting at once read it
  } catch {
    /* not cached: probe again next time */
  }
}
