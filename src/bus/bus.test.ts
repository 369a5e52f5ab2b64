import { runBusContract } from './bus.contract.js';
import { MemoryBus } from './memory/memory-bus.js';
import { connectNatsBus } from './nats/nats-bus.js';
import { natsSkipReason, TEST_NATS_URL } from '../../test/support/nats-server.js';

runBusContract('memory', async () => new MemoryBus());

// NATS: a fresh connection per test; every test uses its own subjects.
runBusContract('nats', () => connectNatsBus({ url: TEST_NATS_URL, name: 'switchboard-bus-contract' }), {
  skip: await natsSkipReason(),
});
