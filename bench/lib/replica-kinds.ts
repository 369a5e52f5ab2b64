/**
 * Where a replica's main thread spends its time, by what started the work (for replica-probe.ts, on
 * when `BENCH_REPLICA_KINDS=1`): every bus message a replica takes (a gateway report by its `type`:
 * heartbeat, snapshot, session.connected, …; a request by its subject; any other subject by its last
 * word) and every HTTP request runs in an AsyncLocalStorage context of its kind, and async_hooks'
 * before/after time every callback and promise reaction against the kind of the context it runs in
 * (what ran outside any such context: by the async resource's type, as `(TCPWRAP)`, `(Timeout)`).
 * Also the longest busy stretches (callbacks back to back, gaps under 0.1 ms merged) and what filled
 * them. The hooks cost CPU themselves (every promise is hooked): compare shares, not totals, and
 * measure CPU A/B without them.
 */
import { AsyncLocalStorage, createHook, executionAsyncResource } from 'node:async_hooks';
import http from 'node:http';
import { performance } from 'node:perf_hooks';

interface Kind {
  kind: string;
}
const MERGE_GAP_MS = 0.1;
const KEEP_SLICES = 25;
const BUCKETS = [1, 5, 10, 20, 50];

export function startKindClock(distRoot: URL) {
  const als = new AsyncLocalStorage<Kind>();
  let acc = new Map<string, { ms: number; n: number }>();
  const types = new WeakMap<object, string>();
  let cur: string | null = null;
  const stack: (string | null)[] = [];
  // CPU (process.cpuUsage, µs → ms) charged to kinds: wall time would count the time the process waits
  // for a core on a loaded machine. Slices are wall time: what a request arriving meanwhile waits.
  let cpuMark = 0;
  const cpuNow = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const charge = (cpu: number) => {
    if (cur === null) return;
    const a = acc.get(cur);
    if (a) a.ms += cpu - cpuMark;
    else acc.set(cur, { ms: cpu - cpuMark, n: 0 });
  };
  const switchTo = (kind: string | null) => {
    const now = performance.now();
    const cpu = cpuNow();
    charge(cpu);
    if (cur !== null && sliceKinds) sliceKinds.set(cur, (sliceKinds.get(cur) ?? 0) + cpu - cpuMark);
    cur = kind;
    cpuMark = cpu;
    return now;
  };
  // Busy stretches.
  let sliceFrom = -1;
  let sliceEnd = -1;
  let sliceKinds: Map<string, number> | null = null;
  let slices: { ms: number; kinds: Record<string, number> }[] = [];
  let counts = BUCKETS.map(() => 0);
  const closeSlice = () => {
    if (sliceFrom < 0 || !sliceKinds) return;
    const ms = sliceEnd - sliceFrom;
    BUCKETS.forEach((b, i) => ms >= b && counts[i]!++);
    if (slices.length < KEEP_SLICES || ms > slices.at(-1)!.ms) {
      const kinds = Object.fromEntries(
        [...sliceKinds].sort((x, y) => y[1] - x[1]).map(([k, v]) => [k, Math.round(v * 100) / 100]),
      );
      slices.push({ ms: Math.round(ms * 100) / 100, kinds });
      slices.sort((x, y) => y.ms - x.ms);
      if (slices.length > KEEP_SLICES) slices.pop();
    }
    sliceFrom = -1;
    sliceKinds = null;
  };
  const kindOf = (resource: object) => als.getStore()?.kind ?? `(${types.get(resource) ?? 'other'})`;
  createHook({
    init(_id, type, _trigger, resource) {
      if (type !== 'PROMISE') types.set(resource, type);
    },
    before() {
      if (stack.length === 0) {
        const now = performance.now();
        if (sliceFrom >= 0 && now - sliceEnd > MERGE_GAP_MS) closeSlice();
        if (sliceFrom < 0) {
          sliceFrom = now;
          sliceKinds = new Map();
        }
      }
      stack.push(cur);
      switchTo(kindOf(executionAsyncResource()));
    },
    after() {
      const now = switchTo(stack.pop() ?? null);
      if (stack.length === 0) sliceEnd = now;
    },
    destroy() {},
  }).enable();

  const wrap = (kind: string, run: () => unknown) => {
    const c = acc.get(kind);
    if (c) c.n++;
    else acc.set(kind, { ms: 0, n: 1 });
    const prev = cur;
    switchTo(kind);
    try {
      return als.run({ kind }, run);
    } finally {
      switchTo(prev);
    }
  };
  const reportType = (data: Uint8Array) => {
    const head = Buffer.from(data.buffer, data.byteOffset, Math.min(data.length, 400)).toString('latin1');
    return /"type":"([^"]+)"/.exec(head)?.[1] ?? 'report';
  };
  // The bus: NatsBus.deliver (subscriptions) and NatsBus.answer (requests served).
  void import(new URL('bus/nats/nats-bus.js', distRoot).href).then((m: Record<string, { prototype: object }>) => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const proto = m.NatsBus!.prototype as Record<string, (...a: any[]) => unknown>;
    const deliver = proto.deliver!;
    proto.deliver = function (this: unknown, msg: { subject: string; data: Uint8Array }, ...rest: unknown[]) {
      const kind = msg.subject.endsWith('.report') ? reportType(msg.data) : `bus ${msg.subject.split('.').at(-1)}`;
      return wrap(kind, () => deliver.call(this, msg, ...rest));
    };
    const answer = proto.answer!;
    proto.answer = function (this: unknown, msg: { subject: string }, ...rest: unknown[]) {
      return wrap(`request ${msg.subject.split('.').slice(-2).join('.')}`, () => answer.call(this, msg, ...rest));
    };
  });
  const emit = http.Server.prototype.emit as (this: http.Server, event: string, ...args: unknown[]) => boolean;
  http.Server.prototype.emit = function (this: http.Server, event: string, ...args: unknown[]) {
    if (event !== 'request') return emit.call(this, event, ...args);
    const url = (args[0] as { url?: string }).url ?? '';
    return wrap(`http ${url.split('?')[0]}`, () => emit.call(this, event, ...args)) as boolean;
  } as typeof http.Server.prototype.emit;

  return {
    report(windowMs: number) {
      switchTo(cur);
      closeSlice();
      const kinds = [...acc]
        .map(([kind, a]) => ({
          kind,
          messages: a.n,
          ms: Math.round(a.ms),
          msPerS: Math.round((a.ms / windowMs) * 1e4) / 10,
          usPerMessage: a.n > 0 ? Math.round((a.ms / a.n) * 1000) : null,
        }))
        .sort((x, y) => y.ms - x.ms);
      const out = {
        note: 'ms: CPU charged to each kind; slices: wall ms, their kinds by CPU ms',
        kinds,
        busyStretches: Object.fromEntries(BUCKETS.map((b, i) => [`>=${b}ms`, counts[i]])),
        longest: slices,
      };
      acc = new Map();
      slices = [];
      counts = BUCKETS.map(() => 0);
      return out;
    },
  };
}
