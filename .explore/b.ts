import { OpenVpnLab, sleep } from '../test/support/openvpn-lab.js';
import { Probe } from './probe.js';
const lab = await OpenVpnLab.create();
try {
  const srv = await lab.startServer({ proto: 'udp4', mode: 'authorize', managementPassword: 'sekret', ipv6: true });
  const p = new Probe(srv.management.slice(5));
  await p.waitFor(/prompt/);
  p.send('wrong'); await sleep(300);
  p.send('sekret'); await sleep(300);
  p.send('pid'); await sleep(300);
  p.s.end(); await sleep(300);
  const p2 = new Probe(srv.management.slice(5)); await sleep(300); p2.send('sekret'); await sleep(200); p2.send('pid'); await sleep(200);
  console.log(srv.log());
} finally { await lab.close(); }
