/**
 * The deployment guard alone, on the in-process bus with a clock of the test's: what counts as a
 * conflict, for how long, and what is logged. The same over real NATS with whole replicas:
 * test/deployment-conflict.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { subjects } from '../bus/bus.js';
import { MemoryBus } from '../bus/memory/memory-bus.js';
import { captureLogger } from '../../test/support/nats-server.js';
import { waitFor } from '../../test/support/wait.js';
import { CONFLICT_PERIODS, DeploymentGuard } from './deployment-guard.js';
import { versioned } from './reports.js';

const PERIOD = 1_000;

function guardOn(bus: MemoryBus, clock: { now: number }) {
  const { logger, lines } = captureLogger();
  const guard = new DeploymentGuard({
    bus,
    logger,
    deploymentId: 'dep_aaaaaaaaaaaaaaaa',
    replicaId: 'rep_one',
    prefix: 'acme',
    periodMs: PERIOD,
    now: () => clock.now,
  });
  return { guard, lines };
}

test('another deployment on the prefix is a conflict until it has not been heard for CONFLICT_PERIODS periods', async () => {
  const bus = new MemoryBus();
  const clock = { now: 1_000_000 };
  const { guard, lines } = guardOn(bus, clock);
  const announced: unknown[] = [];
  bus.subscribe(subjects.deploymentAnnounce, (d) => void announced.push(d));
  guard.start();
  try {
    // It announces itself at start, and hears itself without minding.
    await waitFor(() => announced.length >= 1, 5_000, 'the announcement at start');
    assert.deepEqual(announced[0], versioned({ deploymentId: 'dep_aaaaaaaaaaaaaaaa', replicaId: 'rep_one' }));
    assert.equal(guard.conflict(), null);

    // Another replica of the same deployment: no conflict. A message off the contract: ignored.
    await bus.publish(
      subjects.deploymentAnnounce,
      versioned({ deploymentId: 'dep_aaaaaaaaaaaaaaaa', replicaId: 'rep_two' }),
    );
    await bus.publish(subjects.deploymentAnnounce, { deploymentId: 'dep_bbbbbbbbbbbbbbbb', replicaId: 'rep_x' });
    await new Promise((r) => setImmediate(r));
    assert.equal(guard.conflict(), null);

    // Another deployment: a conflict, logged once with the prefix and both ids.
    const other = versioned({ deploymentId: 'dep_bbbbbbbbbbbbbbbb', replicaId: 'rep_b' });
    await bus.publish(subjects.deploymentAnnounce, other);
    await waitFor(() => guard.conflict() !== null, 5_000, 'the conflict');
    assert.deepEqual(guard.conflict(), {
      deploymentId: 'dep_aaaaaaaaaaaaaaaa',
      otherDeploymentId: 'dep_bbbbbbbbbbbbbbbb',
      lastHeardAt: clock.now,
    });
    await bus.publish(subjects.deploymentAnnounce, other);
    await new Promise((r) => setImmediate(r));
    const errors = lines.filter((l) => l.startsWith('error'));
    assert.equal(errors.length, 1, 'one error line per period');
    assert.match(errors[0]!, /"natsPrefix":"acme"/);
    assert.match(errors[0]!, /dep_aaaaaaaaaaaaaaaa/);
    assert.match(errors[0]!, /dep_bbbbbbbbbbbbbbbb/);

    // Still a conflict just before CONFLICT_PERIODS periods of silence; over after them.
    clock.now += CONFLICT_PERIODS * PERIOD;
    assert.notEqual(guard.conflict(), null);
    clock.now += 1;
    assert.equal(guard.conflict(), null);
  } finally {
    guard.stop();
  }
});
