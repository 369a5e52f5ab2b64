/**
 * Authorize mode against real daemons: clients that connected while no agent held the management
 * link. The daemon sent their `>CLIENT:CONNECT` to no one and will not send it again; without the
 * adapter's sweep (lost-connect-sweep.ts) they would wait out their 60 s handshake window. Each test
 * waits 20 s at most, far less than that window.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { OpenVpnLab, openvpnSkipReason, type LabProto, type LabServer } from '../../../test/support/openvpn-lab.js';
import { AdapterEventLog } from '../adapter-event-log.test-support.js';
import { OpenVpnAdapter } from './openvpn-adapter.js';

const skip = openvpnSkipReason();
/** Well under the clients' 60 s handshake window. */
const WAIT_MS = 20_000;

describe(
  'OpenVPN adapter: clients that connected while no agent was linked (authorize)',
  { skip, concurrency: true },
  () => {
    let lab: OpenVpnLab;
    before(async () => {
      lab = await OpenVpnLab.create();
    });
    after(async () => {
      await lab?.close();
    });

    for (const proto of ['udp4', 'tcp4'] satisfies LabProto[]) {
      describe(proto, { concurrency: 1 }, () => {
        let srv: LabServer;
        const adapters: OpenVpnAdapter[] = [];
        const logs: string[] = [];
        const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(line) });
        const linked = async (events: AdapterEventLog, blocked: string[] = []) => {
          const adapter = new OpenVpnAdapter(srv.gatewayConfig(), { logger });
          adapters.push(adapter);
          adapter.setBlocks(blocked.map((userName) => ({ userName, until: Date.now() + 60_000 })));
          adapter.start(events.push);
          await events.waitFor('snapshot');
          return adapter;
        };

        before(async () => {
          srv = await lab.startServer({ proto, mode: 'authorize' });
        });
        after(async () => {
          await Promise.all(adapters.map((a) => a.stop()));
          await srv?.stopAll();
        });

        test('they are answered at link-up: admitted, or denied if blocked; a session already up is untouched', async () => {
          // ivan is admitted while an agent is linked; then the agent goes (a restart) and the daemon runs on.
          const before = new AdapterEventLog();
          const first = await linked(before);
          const ivan = await srv.startClient({ user: 'ivan' });
          const ivanRef = (await before.waitFor('session.connected', (e) => e.session.userName === 'ivan')).session.ref;
          await first.stop();

          // nina and mallory connect while no one is linked: the daemon asks for them, and no one hears it.
          const nina = await srv.startClient({ user: 'nina', waitConnected: false });
          const mallory = await srv.startClient({ user: 'mallory', waitConnected: false });
          await srv.waitForLog(/authentication deferred for username 'nina'/);
          await srv.waitForLog(/authentication deferred for username 'mallory'/);
          const ivanLogAt = ivan.logLength();
          const from = logs.length;

          const events = new AdapterEventLog();
          const adapter = await linked(events, ['mallory']);
          const admitted = await events.waitFor('session.connected', (e) => e.session.userName === 'nina', {
            timeoutMs: WAIT_MS,
          });
          await nina.waitConnected({ timeoutMs: WAIT_MS });
          await mallory.waitForLog(/AUTH_FAILED,Access blocked by an administrator/, { timeoutMs: WAIT_MS });
          await mallory.waitExited(WAIT_MS);
          assert.doesNotMatch(mallory.log(), /Initialization Sequence Completed/, 'the blocked user never got in');
          assert.ok(
            events.all('auth-denied').some((e) => e.userName === 'mallory'),
            'the denial is reported (and so audited)',
          );

          // ivan: same Client ID, still online, and his client was never told anything.
          const snap = events.mark();
          await adapter.snapshot();
          const { sessions } = await events.waitFor('snapshot', () => true, { from: snap });
          assert.deepEqual(sessions.map((s) => s.userName).sort(), ['ivan', 'nina']);
          assert.equal(sessions.find((s) => s.userName === 'ivan')?.ref, ivanRef);
          assert.doesNotMatch(ivan.log().slice(ivanLogAt), /pushed by server|SIGUSR1|SIGTERM|Restart/);
          assert.equal(events.all('session.disconnected').length, 0, 'no session ended');

          // The two restarts are logged with their Client IDs, and ivan's is not among them.
          const restarted = logs
            .slice(from)
            .filter((l) => l.includes('restarted a client whose CONNECT no agent received'))
            .map((l) => (JSON.parse(l) as { cid: number }).cid);
          assert.equal(restarted.length, 2, 'nina and mallory were restarted');
          assert.ok(!restarted.includes(Number(ivanRef.split(':')[1])), 'the session already up was not restarted');
          assert.notEqual(admitted.session.ref.split(':')[1], undefined);
        });
      });
    }
  },
);
