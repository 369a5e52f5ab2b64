import { runBusContract } from './bus.contract.js';
import { MemoryBus } from './memory/memory-bus.js';

runBusContract('memory', async () => new MemoryBus());
