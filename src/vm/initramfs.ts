// Per-kernel initramfs for the guests: busybox, the host's node binary and
// the shared libraries it links, the compiled dist/ JavaScript, the addon,
// the node_modules the guest code imports, our modules from
// build/modules/<series>/ with the in-tree modules they depend on, and /init.
//
// Cached as .cache/initramfs/<series>.cpio; rebuilt when any input changes
// (every input file's path, size and mtime go into a fingerprint).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { repoRoot } from '../paths.js';
import { findOnPath, kernelInfo, type KernelInfo, type KernelSeries } from './kernels.js';
import { tempPathFor, writeFileAtomic } from '../atomic-file.js';
import { packCpio } from './cpio.js';

/** Bump when the layout or /init changes in a way the fingerprint cannot see. */
const FORMAT = 5;
const GUEST_ROOT = '/mirrorlab';
/** The console shell's prompt with mirrorlab.shell=1 (a lab's boot action waits for it). */
export const SHELL_PROMPT = 'mirrorlab-guest# ';
/** What /init prints first with mirrorlab.shell=1: a lab's sign that the kernel got as far as /init. */
export const INIT_START_MESSAGE = 'mirrorlab-init: shell on the console';
/** Loaded by /init before the agent, where the kernel builds them as modules (6.1). */
const BOOT_MODULES = ['virtio_pci', 'virtio_console'];
/**
 * In-tree modules the tests load on demand: brd gives block devices (O_DIRECT,
 * swap), ext4 a disk file system (mounted as ext2). Their soft dependencies
 * come along (see readSoftdeps).
 */
const ON_DEMAND_MODULES = ['brd', 'ext4'];

/** The addon file node-gyp-build picks for this host (null when there is none). */
function addonPath(): string | null {
  const gypBuild = createRequire(import.meta.url)('node-gyp-build') as { path(dir: string): string };
  try {
    return gypBuild.path(repoRoot);
  } catch {
    return null;
  }
}

export interface InitramfsResult {
  path: string;
  built: boolean;
  /** Module names loadable with vm.loadModule(). */
  modules: string[];
  bytes: number;
}

interface ModDep {
  rel: string;
  deps: string[];
}

function modName(file: string): string {
  return path.basename(file).replace(/\.ko(\.xz|\.zst|\.gz)?$/, '').replace(/-/g, '_');
}

function readModulesDep(k: KernelInfo): Map<string, ModDep> {
  const base = path.join(k.modulesRoot, 'lib/modules', k.release);
  const map = new Map<string, ModDep>();
  for (const line of fs.readFileSync(path.join(base, 'modules.dep'), 'utf8').split('\n')) {
    const m = /^([^:]+):\s*(.*)$/.exec(line);
    if (!m) continue;
    map.set(modName(m[1]), { rel: m[1], deps: m[2].split(/\s+/).filter(Boolean).map(modName) });
  }
  return map;
}

/**
 * The `pre:` soft dependencies of each module (modules.softdep, written by
 * depmod from MODULE_SOFTDEP), as modprobe loads them first: names or aliases.
 * They differ per kernel: 6.1 and 6.12's ext4 and jbd2 ask the crypto API for
 * crc32c ("pre: crypto-crc32c", crc32c_generic and crc32c_intel); 7.2's ext4
 * calls the crc32c library instead and keeps no softdep, jbd2 still names
 * crypto-crc32c (crc32c_cryptoapi).
 */
function readSoftdeps(k: KernelInfo): Map<string, string[]> {
  const f = path.join(k.modulesRoot, 'lib/modules', k.release, 'modules.softdep');
  const map = new Map<string, string[]>();
  if (!fs.existsSync(f)) return map;
  for (const line of fs.readFileSync(f, 'utf8').split('\n')) {
    const m = /^softdep\s+(\S+)\s+(.*)$/.exec(line);
    const pre = m && /pre:\s*(.*?)\s*(?:post:|$)/.exec(m[2]);
    if (!m || !pre) continue;
    const name = modName(m[1]);
    map.set(name, [...(map.get(name) ?? []), ...pre[1].split(/\s+/).filter(Boolean)]);
  }
  return map;
}

/** Exact aliases (modules.alias) to the modules that declare them; modprobe loads every one. */
function readAliases(k: KernelInfo): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const line of fs.readFileSync(path.join(k.modulesRoot, 'lib/modules', k.release, 'modules.alias'), 'utf8').split('\n')) {
    const m = /^alias\s+(\S+)\s+(\S+)$/.exec(line);
    if (m) map.set(m[1], [...(map.get(m[1]) ?? []), modName(m[2])]);
  }
  return map;
}

function builtinModules(k: KernelInfo): Set<string> {
  const f = path.join(k.modulesRoot, 'lib/modules', k.release, 'modules.builtin');
  const s = new Set<string>();
  if (fs.existsSync(f)) for (const l of fs.readFileSync(f, 'utf8').split('\n')) if (l) s.add(modName(l));
  return s;
}

function walk(dir: string, filter: (p: string) => boolean, out: string[] = []): string[] {
  if (!fs.existsSync(dir)) return out;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, filter, out);
    else if (filter(p)) out.push(p);
  }
  return out;
}

/** Shared libraries a binary links, from ldd (absolute paths, including the loader). */
function sharedLibs(bin: string): string[] {
  const out = execFileSync('ldd', [bin], { encoding: 'utf8' });
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.push(m[1]);
  }
  return libs;
}

/** Bare package imports in the compiled JavaScript, with their dependencies. */
function runtimePackages(jsFiles: string[]): string[] {
  const want = new Set<string>();
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\(\s*)['"]([^'"./][^'"]*)['"]/g;
  for (const f of jsFiles) {
    const src = fs.readFileSync(f, 'utf8');
    for (const m of src.matchAll(re)) {
      const spec = m[1];
      if (spec.startsWith('node:')) continue;
      const parts = spec.split('/');
      want.add(spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]);
    }
  }
  const result = new Set<string>();
  const add = (name: string): void => {
    if (result.has(name)) return;
    const dir = path.join(repoRoot, 'node_modules', name);
    if (!fs.existsSync(path.join(dir, 'package.json'))) return; // a node builtin, or optional and absent
    result.add(name);
    const pj = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    for (const d of Object.keys({ ...pj.dependencies, ...pj.optionalDependencies })) add(d);
  };
  for (const w of want) add(w);
  return [...result].sort();
}

function initScript(): string {
  return `#!/bin/sh
# mirrorlab guest init: mounts, pools, boot modules, then the agent.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/hugepages /dev/hugepages-1G /tmp /run
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t hugetlbfs -o pagesize=2M hugetlbfs /dev/hugepages
mount -t hugetlbfs -o pagesize=1G hugetlbfs /dev/hugepages-1G 2>/dev/null
for w in $(cat /proc/cmdline); do
	case "$w" in
	mirrorlab.thp=*) echo "\${w#*=}" >/sys/kernel/mm/transparent_hugepage/enabled ;;
	mirrorlab.thp_defrag=*) echo "\${w#*=}" >/sys/kernel/mm/transparent_hugepage/defrag ;;
	mirrorlab.hugepages2m=*) echo "\${w#*=}" >/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages ;;
	mirrorlab.modules=*) modules=$(echo "\${w#*=}" | tr , ' ') ;;
	mirrorlab.shell=1) shell=1 ;;
	esac
done
hostname mirrorlab-guest
load() {
	[ -f /lib/mirrorlab/modules/$1.order ] || return 0
	while read -r ko; do
		m=\${ko##*/}; m=\${m%.ko}
		[ -e /sys/module/$(echo "$m" | tr - _)/initstate ] || insmod "$ko" || echo "mirrorlab-init: insmod $ko failed"
	done </lib/mirrorlab/modules/$1.order
}
for m in $(cat /lib/mirrorlab/boot-modules); do load "$m"; done
# A lab's test shell (LAVA, docs/lava.md) asks for a shell on the console
# instead of the agent; the host-driven runs never pass mirrorlab.shell=1.
if [ "$shell" = 1 ]; then
	for m in $modules; do load "$m"; done
	echo "${INIT_START_MESSAGE} at $(cut -d' ' -f1 /proc/uptime)s"
	export HOME=/root PS1='${SHELL_PROMPT}'
	# cttyhack makes the console the shell's controlling terminal (job control, ^C).
	setsid cttyhack /bin/sh
	echo "mirrorlab-exit: $?"
	sync
	poweroff -f
fi
echo "mirrorlab-init: agent starting at $(cut -d' ' -f1 /proc/uptime)s"
cd ${GUEST_ROOT}
/usr/bin/node ${GUEST_ROOT}/dist/vm/agent.js
status=$?
[ -f /run/mirrorlab-exit-status ] && status=$(cat /run/mirrorlab-exit-status)
echo "mirrorlab-exit: $status"
sync
poweroff -f
`;
}

interface Entry {
  /** Path inside the guest (relative, no leading slash). */
  dest: string;
  /** Host file to copy (or decompress), or content to write. */
  src?: string;
  content?: string;
  mode?: number;
  xz?: boolean;
  /** Copy without symbols and debug sections (strip --strip-all). */
  strip?: boolean;
  link?: string;
}

function plan(k: KernelInfo, series: KernelSeries): { entries: Entry[]; modules: string[] } {
  const entries: Entry[] = [];
  const add = (e: Entry): void => void entries.push(e);

  // busybox: the binary and one link per applet.
  add({ dest: 'bin/busybox', src: '/bin/busybox', mode: 0o755 });
  const applets = execFileSync('/bin/busybox', ['--list-full'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const a of applets) if (a !== 'bin/busybox' && a !== 'usr/bin/node') add({ dest: a, link: '/bin/busybox' });

  // node and the libraries it links.
  const node = fs.realpathSync(process.execPath);
  // Stripped: Debian's node carries 13 MB of symbols the guest never reads.
  add({ dest: 'usr/bin/node', src: node, mode: 0o755, strip: findOnPath('strip') !== null });
  for (const lib of sharedLibs(node)) add({ dest: lib.slice(1), src: fs.realpathSync(lib), mode: 0o755 });

  // The project's compiled JavaScript, package.json (ESM), addon, runtime packages.
  const dist = path.join(repoRoot, 'dist');
  const js = walk(dist, (p) => p.endsWith('.js'));
  if (!js.some((p) => p.endsWith('vm/agent.js'))) throw new Error(`dist/vm/agent.js missing: run npm run build:ts`);
  for (const f of js) add({ dest: path.join(GUEST_ROOT.slice(1), path.relative(repoRoot, f)), src: f });
  add({ dest: `${GUEST_ROOT.slice(1)}/package.json`, src: path.join(repoRoot, 'package.json') });
  // vm/kernels.js reads the kernel list when it is loaded, in the guest too.
  add({ dest: `${GUEST_ROOT.slice(1)}/scripts/kernel-series`, src: path.join(repoRoot, 'scripts/kernel-series') });
  // The addon node-gyp-build loads on the host (build/Release from a build,
  // prebuilds/ in an installed package) goes to build/Release in the guest,
  // where node-gyp-build looks first.
  const addon = addonPath();
  if (addon) add({ dest: `${GUEST_ROOT.slice(1)}/build/Release/mirrorlab.node`, src: addon });
  for (const pkg of runtimePackages(js)) {
    const dir = path.join(repoRoot, 'node_modules', pkg);
    for (const f of walk(dir, (p) => !p.endsWith('.md') && !p.endsWith('.ts') && !p.endsWith('.map'))) {
      add({ dest: path.join(GUEST_ROOT.slice(1), path.relative(repoRoot, f)), src: f });
    }
  }

  // Modules: ours, and the in-tree ones they (and the boot modules) need.
  const deps = readModulesDep(k);
  const builtin = builtinModules(k);
  const modDir = `lib/modules/${k.release}`;
  const ours = walk(path.join(repoRoot, 'build/modules', path.basename(k.dir)), (p) => p.endsWith('.ko'));
  const order = new Map<string, string[]>();
  const guestPath = (name: string): string => {
    const d = deps.get(name);
    if (!d) throw new Error(`kernel ${k.release}: module ${name} not in modules.dep`);
    return `/${modDir}/${d.rel.replace(/\.(xz|zst|gz)$/, '')}`;
  };
  const included = new Set<string>();
  const include = (name: string): void => {
    if (included.has(name)) return;
    included.add(name);
    const d = deps.get(name)!;
    add({
      dest: `${modDir}/${d.rel.replace(/\.(xz|zst|gz)$/, '')}`,
      src: path.join(k.modulesRoot, modDir, d.rel),
      xz: d.rel.endsWith('.xz'),
    });
  };
  const softdeps = readSoftdeps(k);
  const aliases = readAliases(k);
  // A soft dependency names a module or an alias; built-in ones need no load.
  const softdepModules = (name: string): string[] =>
    (softdeps.get(name) ?? []).flatMap((s) => (deps.has(modName(s)) ? [modName(s)] : aliases.get(s) ?? [])).filter((n) => !builtin.has(n));
  // modules.dep lists the full closure, deepest last: load in reverse, each
  // module after its soft dependencies (as modprobe does).
  const inTreeOrder = (name: string, seen = new Set<string>()): string[] => {
    const d = deps.get(name);
    if (!d) throw new Error(`kernel ${k.release}: module ${name} not in modules.dep`);
    const names: string[] = [];
    for (const n of [...d.deps].reverse().concat(name)) {
      if (seen.has(n)) continue;
      seen.add(n);
      for (const s of softdepModules(n)) for (const p of inTreeOrder(s, seen)) if (!names.includes(p)) names.push(p);
      names.push(n);
    }
    for (const n of names) include(n);
    return names;
  };
  const inTreePaths = (name: string): string[] => inTreeOrder(name).map(guestPath);
  const boot: string[] = [];
  for (const b of BOOT_MODULES) {
    if (builtin.has(b)) continue;
    order.set(b, inTreePaths(b));
    boot.push(b);
  }
  for (const m of ON_DEMAND_MODULES) if (!builtin.has(m) && deps.has(m)) order.set(m, inTreePaths(m));
  for (const ko of ours) {
    const name = modName(ko);
    const depends = execFileSync('/sbin/modinfo', ['-F', 'depends', ko], { encoding: 'utf8' })
      .trim()
      .split(',')
      .filter(Boolean);
    const list: string[] = [];
    for (const d of depends) for (const p of inTreePaths(d)) if (!list.includes(p)) list.push(p);
    const dest = `${modDir}/extra/${path.basename(ko)}`;
    add({ dest, src: ko });
    list.push(`/${dest}`);
    order.set(name, list);
  }
  for (const [name, list] of order) add({ dest: `lib/mirrorlab/modules/${name}.order`, content: list.join('\n') + '\n' });
  add({ dest: 'lib/mirrorlab/boot-modules', content: boot.join('\n') + '\n' });
  add({ dest: 'init', content: initScript(), mode: 0o755 });
  return { entries, modules: ours.map(modName) };
}

function fingerprint(entries: Entry[], k: KernelInfo): string {
  const h = createHash('sha256');
  h.update(`format ${FORMAT}\n${k.release}\n${JSON.stringify(k.manifest)}\n`);
  for (const e of entries) {
    h.update(`${e.dest}\0${e.link ?? ''}\0${e.mode ?? ''}\0${e.strip ? 'strip' : ''}\0`);
    if (e.content !== undefined) h.update(e.content);
    if (e.src) {
      const st = fs.statSync(e.src);
      h.update(`${e.src}\0${st.size}\0${st.mtimeMs}\n`);
    }
  }
  return h.digest('hex');
}

/** Builds (or reuses) the initramfs for one kernel series. */
export function ensureInitramfs(series: KernelSeries, log: (msg: string) => void = () => {}): InitramfsResult {
  const k = kernelInfo(series);
  const { entries, modules } = plan(k, series);
  // Not under build/: node-gyp rebuild deletes that directory.
  const outDir = path.join(repoRoot, '.cache/initramfs');
  const out = path.join(outDir, `${series}.cpio`);
  const stamp = `${out}.stamp`;
  const fp = fingerprint(entries, k);
  if (fs.existsSync(out) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === fp) {
    return { path: out, built: false, modules, bytes: fs.statSync(out).size };
  }
  log(`initramfs ${series}: building (${entries.length} entries)`);
  fs.mkdirSync(outDir, { recursive: true });
  const stage = fs.mkdtempSync(path.join(outDir, `.${series}.`));
  try {
    for (const d of ['proc', 'sys', 'dev', 'tmp', 'run', 'root', 'etc']) fs.mkdirSync(path.join(stage, d), { recursive: true });
    for (const e of entries) {
      const dest = path.join(stage, e.dest);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      if (e.link) {
        fs.rmSync(dest, { force: true });
        fs.symlinkSync(e.link, dest);
      } else if (e.content !== undefined) {
        fs.writeFileSync(dest, e.content, { mode: e.mode ?? 0o644 });
      } else if (e.strip) {
        execFileSync('strip', ['--strip-all', '-o', dest, e.src!]);
        fs.chmodSync(dest, e.mode ?? 0o755);
      } else if (e.xz) {
        fs.writeFileSync(dest, execFileSync('xz', ['-dc', e.src!], { maxBuffer: 1 << 30 }));
      } else {
        fs.copyFileSync(e.src!, dest);
        if (e.mode) fs.chmodSync(dest, e.mode);
      }
    }
    const tmp = tempPathFor(out); // concurrent builders never share a file
    packCpio(stage, tmp);
    fs.renameSync(tmp, out);
    writeFileAtomic(stamp, fp); // a concurrent reader never sees half a stamp
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
  const bytes = fs.statSync(out).size;
  log(`initramfs ${series}: ${(bytes / 2 ** 20).toFixed(1)} MiB, modules: ${modules.join(', ') || '(none)'}`);
  return { path: out, built: true, modules, bytes };
}
