import { OpenVpnLab, sleep } from '../test/support/openvpn-lab.js';
import { Probe } from './probe.js';
const lab = await OpenVpnLab.create();
try {
  const srv = await lab.startServer({ proto: 'tcp4', mode: 'observe' });
  const p = new Probe(srv.management.slice(5), true);
  await sleep(100);
  for (const n of [100, 200, 230, 240, 250, 260]) {
    const c = await srv.startClient({ user: 'u' + n });
    const k = p.mark(); p.send('status 3'); await p.waitFor(/^END/, k);
    const cid = p.lines.slice(k).find(x => x.l.startsWith('CLIENT_LIST'))!.l.split('\t')[10];
    const k2 = p.mark();
    p.send(`client-kill ${cid} "HALT,${'x'.repeat(n)}"`);
    const r = await p.waitFor(/^SUCCESS|^ERROR/, k2);
    let ok = false; try { await c.waitExited(3000); ok = true; } catch { await c.stop(); }
    const line = c.log().split('\n').find(l => /pushed/.test(l));
    console.log(n, r.l, ok, line?.length, line?.slice(0, 60));
    await sleep(100);
  }
  console.log(srv.log().split('\n').filter(l => /MANAGEMENT|WARN|ERR|too long/i.test(l)).slice(-12).join('\n'));
} finally { await lab.close(); }
