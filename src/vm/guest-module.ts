// Typed handles on the guest modules that Vm.call runs (src/guest/). A handle
// carries the module's path under dist/ (what the agent imports) and, as a
// type only, the module itself: Vm.call(handle, name, ...args) checks the
// export's name, its arguments and its result at compile time, and the host
// never loads the guest code. test/unit/guest-modules.test.ts checks each
// handle's path against the module its type names.
import type { Delivered } from './codec.js';

/** Exports of M that the agent can call: its functions. */
export type GuestFunctions<M> = { [K in keyof M]: M[K] extends (...args: never[]) => unknown ? K : never }[keyof M] & string;

export interface GuestModule<M> {
  /** Path of the compiled module relative to dist/, as the agent resolves it. */
  readonly path: string;
  /** Never set: carries the module's type. */
  readonly __module?: M;
}

/** A handle on the guest module at dist/<path>, typed as M (typeof import('...')). */
export function guestModule<M>(path: string): GuestModule<M> {
  return Object.freeze({ path });
}

type Fn<M, K extends keyof M> = M[K] extends (...args: infer A) => infer R ? { args: A; result: R } : never;

/** The arguments of M's export K. */
export type GuestArgs<M, K extends keyof M> = Fn<M, K>['args'];

/** What the host receives from M's export K: its resolved result after the RPC codec. */
export type GuestResult<M, K extends keyof M> = Delivered<Awaited<Fn<M, K>['result']>>;
