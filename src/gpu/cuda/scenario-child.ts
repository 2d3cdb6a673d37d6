// One GPU scenario in a process of its own (scenarios.ts runScenario): a GPU
// fault leaves the CUDA context unusable, so no scenario shares one.
// Usage: node dist/gpu/cuda/scenario-child.js <scenario> <cuda-pinned|cuda-hmm>
// Prints the outcome as one JSON line and exits 0, whatever the GPU did.
import { CudaDevice } from './device.js';
import { SCENARIOS, SCENARIO_KINDS, runScenarioHere, type ScenarioId, type ScenarioKind, type ScenarioOutcome } from './scenarios.js';

const [id, kind] = process.argv.slice(2) as [ScenarioId, ScenarioKind];
let out: ScenarioOutcome;
if (!SCENARIOS.some((s) => s.id === id) || !SCENARIO_KINDS.includes(kind)) {
  out = { scenario: id, kind, skipped: null, error: { code: 'ERR_INVALID_ARG_VALUE', message: `usage: scenario-child <${SCENARIOS.map((s) => s.id).join('|')}> <${SCENARIO_KINDS.join('|')}>` }, facts: {} };
} else {
  let dev: CudaDevice | undefined;
  try {
    dev = CudaDevice.open(0);
    out = await runScenarioHere(id, kind, dev);
  } catch (e) {
    const x = e as { code?: string; message?: string };
    out = { scenario: id, kind, skipped: null, error: { code: x.code ?? 'ERR_UNKNOWN', message: x.message ?? String(e) }, facts: {} };
  }
  try {
    dev?.close();
  } catch {
    /* a context a GPU fault broke may refuse its release: the process exits anyway */
  }
}
process.stdout.write(`${JSON.stringify(out)}\n`);
process.exit(0);
