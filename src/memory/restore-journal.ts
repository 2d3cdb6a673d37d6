// Kernel settings that mirrorlab changes (a hugetlb pool grown, THP
// shmem_enabled switched) are put back by their disposers and, on a normal
// exit, by restore-on-exit.ts. Neither runs when the process is SIGKILLed,
// OOM-killed or crashes in native code: then the machine keeps a grown pool
// (memory gone for everything else) or a changed THP mode (every later
// measurement skewed).
//
// So each change is journaled before it is made: /run/mirrorlab/restore/<pid>.json
// holds the previous value of every file this process has changed and not yet
// put back (written atomically, so a crash never leaves half a journal). An
// entry goes when its setting is restored; the file goes with its last
// entry. Any mirrorlab process about to change such a setting first replays
// the journals of processes that no longer exist (last change first, so the
// earliest previous value is what remains), then removes them. /run is
// cleared at boot, as are the settings themselves.
//
// MIRRORLAB_RESTORE_DIR moves the journal directory (tests use their own).
import fs from 'node:fs';
import path from 'node:path';
import { tempPathFor, writeFileAtomic } from '../atomic-file.js';

export const DEFAULT_RESTORE_DIR = '/run/mirrorlab/restore';

export function restoreDir(): string {
  return process.env.MIRRORLAB_RESTORE_DIR || DEFAULT_RESTORE_DIR;
}

export interface JournalEntry {
  /** The file written (a sysfs or procfs setting). */
  path: string;
  /** What to write back: its content before the change. */
  value: string;
}

interface Journal {
  pid: number;
  /** The process's start time (clock ticks since boot, /proc/PID/stat field 22): a reused pid is another process. */
  startTime: string | null;
  entries: JournalEntry[];
}

/** Field 22 of /proc/PID/stat, or null when the process does not exist or has exited (a zombie). */
function startTimeOf(pid: number | 'self'): string | null {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces and ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (rest[0] === 'Z' || rest[0] === 'X') return null; // field 3, the state: exited, not yet reaped
  return rest[19] ?? null; // field 22 is the 20th after the name
}

let ownEntries: { id: number; entry: JournalEntry }[] = [];
let nextId = 0;
let ownStart: string | null | undefined;

function journalPath(pid: number): string {
  return path.join(restoreDir(), `${pid}.json`);
}

function writeOwnJournal(): void {
  const file = journalPath(process.pid);
  if (!ownEntries.length) {
    fs.rmSync(file, { force: true });
    return;
  }
  ownStart ??= startTimeOf('self');
  const journal: Journal = { pid: process.pid, startTime: ownStart, entries: ownEntries.map((e) => e.entry) };
  fs.mkdirSync(restoreDir(), { recursive: true, mode: 0o755 });
  writeFileAtomic(file, JSON.stringify(journal, null, 1) + '\n');
}

/**
 * Journals `value` as what `file` held before this process changes it: call it
 * before the write. Returns the function to call once the previous value is
 * back (or the change did not happen). Throws, before anything changed, when
 * the journal cannot be written: a change that a kill could leave behind for
 * good is not made.
 */
export function journalSetting(file: string, value: string): () => void {
  replayDeadJournals();
  const id = nextId++;
  ownEntries.push({ id, entry: { path: file, value } });
  try {
    writeOwnJournal();
  } catch (e) {
    ownEntries = ownEntries.filter((x) => x.id !== id);
    throw new Error(`not changing ${file}: cannot journal its previous value for restoring after a crash (${(e as Error).message})`);
  }
  let done = false;
  return () => {
    if (done) return;
    done = true;
    ownEntries = ownEntries.filter((x) => x.id !== id);
    try {
      writeOwnJournal();
    } catch {
      /* the setting is back; a stale entry only writes the same value again after this process is gone */
    }
  };
}

/** Whether the process a journal belongs to still runs (same pid and start time). */
function alive(j: Journal): boolean {
  if (j.pid === process.pid) return true;
  const now = startTimeOf(j.pid);
  return now !== null && (j.startTime === null || now === j.startTime);
}

export interface Replayed {
  pid: number;
  restored: JournalEntry[];
  /** Entries whose write failed, with why (the journal is kept for the next try). */
  failed: { entry: JournalEntry; error: string }[];
}

let replayedOnce = false;

/**
 * Puts back every setting journaled by a mirrorlab process that no longer
 * exists, and removes its journal. Runs once per process by itself (before
 * its first change); `force` runs it again. Two processes replaying at once
 * do not both write: each claims a journal by renaming it first.
 */
export function replayDeadJournals(force = false): Replayed[] {
  if (replayedOnce && !force) return [];
  replayedOnce = true;
  const dir = restoreDir();
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const out: Replayed[] = [];
  for (const name of names) {
    if (!/^\d+\.json$/.test(name)) continue;
    const file = path.join(dir, name);
    let journal: Journal;
    try {
      journal = JSON.parse(fs.readFileSync(file, 'utf8')) as Journal;
    } catch {
      continue; // gone meanwhile (another process replayed it), or not ours to judge
    }
    if (alive(journal)) continue;
    const claimed = tempPathFor(file);
    try {
      fs.renameSync(file, claimed);
    } catch {
      continue; // another process claimed it first
    }
    const result: Replayed = { pid: journal.pid, restored: [], failed: [] };
    for (const entry of [...journal.entries].reverse()) {
      try {
        fs.writeFileSync(entry.path, entry.value);
        result.restored.push(entry);
      } catch (e) {
        result.failed.push({ entry, error: (e as Error).message });
      }
    }
    if (result.failed.length) {
      // Keep what could not be put back for a later run, under the dead pid's name.
      writeFileAtomic(file, JSON.stringify({ ...journal, entries: result.failed.map((f) => f.entry) }, null, 1) + '\n');
      for (const f of result.failed) process.emitWarning(`mirrorlab: could not restore ${f.entry.path} to ${JSON.stringify(f.entry.value)} for dead process ${journal.pid}: ${f.error}`);
    }
    fs.rmSync(claimed, { force: true });
    out.push(result);
  }
  return out;
}
