// uffd-roundtrip: the userfaultfd round trip as the faulting thread sees it,
// served by the native fault-server thread against handled in JavaScript,
// with the messages read on the main thread's event loop ('poll', the
// default delivery) and by a delivery thread ('thread')
// (src/userfaultfd/roundtrip.ts). Each round is one measureUffdRoundTrip():
// fresh mappings and userfaultfds, a cold run per side, then warm runs, the
// three sides taking turns. The suite's cold figure is round 0's cold run;
// warm figures pool the warm runs of the measured rounds, which repeat until
// the JS (poll)/native ratio of round medians settles.
import { native } from '../../addon.js';
import { roundRatio, toMeasurement } from '../../measure/repeat.js';
import { measureUffdRoundTrip } from '../../userfaultfd/roundtrip.js';
import { Userfaultfd } from '../../userfaultfd/userfaultfd.js';
import type { Suite } from '../suite.js';
import { errorMessage, repeatPaired } from './common.js';

const PAGES = { quick: 64, full: 256 };
const WARM_RUNS = { quick: 2, full: 4 };
/** JavaScript (default delivery) / native: #18 asks for at most this. */
const TARGET_RATIO = 1.5;

export const uffdRoundTripSuite: Suite = {
  id: 'host/uffd-roundtrip',
  title: 'userfaultfd round trip: native fault server against JavaScript handler (poll and thread delivery)',
  environment: 'host',
  async unsupported() {
    if (process.platform !== 'linux') return `Linux only (this is ${process.platform})`;
    try {
      Userfaultfd.open().close();
      return null;
    } catch (e) {
      return `cannot open a userfaultfd: ${errorMessage(e)}`;
    }
  },
  steps: () => 1,
  async run(ctx) {
    const pages = ctx.quick ? PAGES.quick : PAGES.full;
    const warmRuns = ctx.quick ? WARM_RUNS.quick : WARM_RUNS.full;
    let failures = 0;
    const paired = await repeatPaired<{ copiedPages: number }>(async () => {
      const r = await measureUffdRoundTrip({ pages, warmRuns });
      // measureUffdRoundTrip throws when a page read back the wrong byte; every
      // run resolved all its faults.
      if ([r.js, r.jsThread, r.native].some((side) => side.warm.n !== pages * warmRuns)) failures++;
      return {
        a: { cold: r.js.coldSamples, warm: r.js.warmSamples },
        b: { cold: r.native.coldSamples, warm: r.native.warmSamples },
        more: { thread: { cold: r.jsThread.coldSamples, warm: r.jsThread.warmSamples } },
        info: { copiedPages: r.native.warm.n + r.js.warm.n + r.jsThread.warm.n },
      };
    }, ctx.repeat);
    ctx.check({
      name: `every fault resolved with the copied page (${pages} pages x ${warmRuns} warm runs per side per round)`,
      status: failures === 0 ? 'pass' : 'fail',
      reason: `${paired.infos.length} rounds, ${failures} with missing samples; every page read back the copied byte (checked per run, a mismatch throws)`,
    });
    const params = { pages, pageSize: native.mmConstants.PAGE_SIZE, warmRunsPerRound: warmRuns, access: 'read of a missing page (MISSING mode, UFFDIO_COPY)' };
    const js = toMeasurement(
      { id: 'roundtrip/js', title: 'userfaultfd round trip handled in JavaScript, read on the event loop (poll): ns per fault', unit: 'ns', params: { ...params, handler: 'javascript', delivery: 'poll' } },
      paired.a,
    );
    const jsThread = toMeasurement(
      { id: 'roundtrip/js-thread', title: 'userfaultfd round trip handled in JavaScript, read by a delivery thread: ns per fault', unit: 'ns', params: { ...params, handler: 'javascript', delivery: 'thread' } },
      paired.more.thread,
    );
    const nat = toMeasurement({ id: 'roundtrip/native', title: 'userfaultfd round trip, native fault server: ns per fault', unit: 'ns', params: { ...params, handler: 'native' } }, paired.b);
    ctx.measurement(nat);
    ctx.measurement(js);
    ctx.measurement(jsThread);
    ctx.plot({ kind: 'histogram', title: 'userfaultfd round trip, native fault server', measurement: nat.id });
    ctx.plot({ kind: 'histogram', title: 'userfaultfd round trip, JavaScript handler (poll)', measurement: js.id });
    ctx.plot({ kind: 'histogram', title: 'userfaultfd round trip, JavaScript handler (thread)', measurement: jsThread.id });
    const ratio = roundRatio(js, nat);
    ctx.comparison({
      id: 'js-vs-native',
      title: 'userfaultfd round trip: JavaScript handler (poll delivery) / native fault server',
      a: js.id,
      b: nat.id,
      ratio,
      target: { op: '<=', value: TARGET_RATIO, met: ratio.median <= TARGET_RATIO },
    });
    ctx.comparison({
      id: 'js-thread-vs-native',
      title: 'userfaultfd round trip: JavaScript handler (thread delivery) / native fault server',
      a: jsThread.id,
      b: nat.id,
      ratio: roundRatio(jsThread, nat),
    });
    ctx.comparison({
      id: 'js-thread-vs-js',
      title: 'userfaultfd round trip: JavaScript handler, thread delivery / poll delivery',
      a: jsThread.id,
      b: js.id,
      ratio: roundRatio(jsThread, js),
    });
    ctx.step('round trips');
  },
};
