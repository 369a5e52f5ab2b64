/**
 * The IKEv2 lab's initiators against a real charon responder: one that comes back by itself (a
 * phone's "VPN on demand") and one that stays down, when the responder is stopped (it sends each
 * peer a DELETE) and when it is killed -9 (it sends nothing: the initiators' SAs are stale). The
 * IKEv2 contract's restart case relies on the first; CI once saw it fail when the initiator's new SA
 * was made with the charon that was stopping (an SA no charon knew afterwards, held forever).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { StrongSwanLab, charonSkipReason } from './strongswan-lab.js';
import { waitFor } from '../../test/support/wait.js';

describe('strongSwan lab: initiators across a responder restart', { skip: charonSkipReason() }, () => {
  let lab: StrongSwanLab;
  const onDemand = () => lab.clients[0]!;
  const manual = () => lab.clients[1]!;

  before(async () => {
    lab = await StrongSwanLab.create({ clients: 2, users: ['ondemand', 'manual'], reconnecting: ['ondemand'] });
    await onDemand().initiate();
    await manual().initiate();
  });
  after(() => lab?.close());

  test('stopped (DELETE sent): the on-demand initiator comes back by itself; the other knows it is down', async () => {
    await lab.responder.stop();
    assert.equal(await manual().established(), false, 'told by the DELETE');
    await lab.responder.start();
    await waitFor(() => lab.establishedAtResponder('ondemand'), 30_000, 'ondemand back by itself', 100);
    assert.equal(await lab.establishedAtResponder('manual'), false);
    await manual().initiate();
  });

  test('killed -9 (no DELETE): the on-demand initiator finds its SA dead and comes back; the other holds a stale SA', async () => {
    lab.responder.signal('SIGKILL');
    await lab.responder.stop();
    assert.equal(await onDemand().established(), true, 'its SA is stale: nobody told it');
    await lab.responder.start();
    await waitFor(() => lab.establishedAtResponder('ondemand'), 30_000, 'ondemand back by dead peer detection', 100);
    assert.equal(await manual().established(), true, 'still holds its stale SA');
    assert.equal(await lab.establishedAtResponder('manual'), false, 'which the new responder does not know');
  });
});
