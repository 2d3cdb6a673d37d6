// Builds kernel-patches/fuzz/mlfuzz.c on the host (static: the guest
// initramfs has no libc for it) and packs it as a cpio archive for the
// guest's /fuzz. Both are cached under .cache/fuzz by a hash of what goes
// into them: the source, the uapi headers, the compiler and its flags.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../paths.js';
import { packCpio } from '../vm/cpio.js';

const SOURCE = path.join(repoRoot, 'kernel-patches/fuzz/mlfuzz.c');
const INCLUDE = path.join(repoRoot, 'kernel-patches/include');
const UAPI = ['uapi/mirrordrm.h', 'uapi/fakevram.h'];
// -ffile-prefix-map, with gcc run in the checkout (the debug info's build
// directory): the binary names its sources relative to the checkout, so
// every clone of a commit builds the same bytes, and the guest states keyed
// by them are shared.
const FLAGS = ['-static', '-O2', '-g', '-pthread', '-Wall', '-Wextra', '-Wno-sign-compare', '-Wno-unused-parameter', `-I${INCLUDE}`, `-ffile-prefix-map=${repoRoot}=.`];
/** Where the guest finds the fuzzer. */
export const GUEST_FUZZER = '/fuzz/mlfuzz';

export interface FuzzerBuild {
  /** The static binary. */
  binary: string;
  /** A cpio archive holding it at /fuzz/mlfuzz. */
  archive: string;
  /** The content hash naming both (first 16 hex digits). */
  hash: string;
}

function compilerVersion(): string {
  try {
    return execFileSync('gcc', ['--version'], { encoding: 'utf8' }).split('\n')[0];
  } catch (e) {
    throw Object.assign(new Error(`mirrorlab fuzz: gcc not found (scripts/setup.sh installs it): ${(e as Error).message}`), { code: 'ERR_FUZZ_BUILD' });
  }
}

/** The fuzzer's content hash: source, headers, compiler and flags. */
export function fuzzerHash(): string {
  const h = createHash('sha256');
  h.update(fs.readFileSync(SOURCE));
  for (const f of UAPI) h.update(fs.readFileSync(path.join(INCLUDE, f)));
  h.update(compilerVersion());
  h.update(FLAGS.join(' ').replaceAll(repoRoot, '.'));
  return h.digest('hex').slice(0, 16);
}

/** The fuzzer binary and its archive, built when the cache has none for this content. */
export function ensureFuzzer(): FuzzerBuild {
  const hash = fuzzerHash();
  const dir = path.join(repoRoot, '.cache/fuzz', hash);
  const binary = path.join(dir, 'mlfuzz');
  const archive = path.join(dir, 'mlfuzz.cpio');
  if (fs.existsSync(binary) && fs.existsSync(archive)) return { binary, archive, hash };
  fs.mkdirSync(dir, { recursive: true });
  // Built in a staging directory and renamed: two builds at once never see half a file.
  const stage = fs.mkdtempSync(path.join(dir, '.build.'));
  try {
    const out = path.join(stage, 'fuzz/mlfuzz');
    fs.mkdirSync(path.dirname(out));
    try {
      execFileSync('gcc', [...FLAGS, '-o', out, SOURCE], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      const err = e as { stderr?: Buffer; message: string };
      throw Object.assign(new Error(`mirrorlab fuzz: building ${path.relative(repoRoot, SOURCE)} failed: ${err.stderr?.toString() || err.message}`), { code: 'ERR_FUZZ_BUILD' });
    }
    packCpio(stage, path.join(stage, 'mlfuzz.cpio'), 'fuzz');
    fs.renameSync(path.join(stage, 'mlfuzz.cpio'), archive);
    fs.renameSync(out, binary);
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
  return { binary, archive, hash };
}
