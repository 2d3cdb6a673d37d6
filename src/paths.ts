// The repository root, which is also the installed package's root: one level
// above both src/ (tests and tsx run the sources) and dist/ (the compiled
// JavaScript, also inside the guest), so one expression holds for both.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
