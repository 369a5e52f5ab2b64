import { OpenVpnLab, sleep } from '../test/support/openvpn-lab.js';
import { Probe } from './probe.js';
const lab = await OpenVpnLab.create();
try {
  const srv = await lab.startServer({ proto: 'udp4', mode: 'authorize', managementPassword: 'sekret', ipv6: true });
  const p2 = new Probe(srv.management.slice(5)); await p2.waitFor(/prompt/); p2.send('sekret'); await sleep(200);
  // answer connects automatically
  let m = p2.mark();
  const auto = setInterval(() => { for (; m < p2.lines.length; m++) { const x = /^>CLIENT:(CONNECT|REAUTH),(\d+),(\d+)/.exec(p2.lines[m]!.l); if (x) { if (process.env.DENY && p2.lines.length) p2.send(`client-deny ${x[2]} ${x[3]} "blocked by test" "You are blocked for 30 s"`); else p2.send(`client-auth-nt ${x[2]} ${x[3]}`); } } }, 2);
  const a = srv.startClient({ user: 'alice' });
  const b = srv.startClient({ user: 'bob' });
  const [ca, cb] = await Promise.all([a, b]);
  p2.send('status 3'); await sleep(200);
  const mk = p2.mark();
  const t = Date.now();
  p2.send('client-kill 0 "HALT,Your session was ended by the operator"');
  const r = await p2.waitFor(/^SUCCESS|^ERROR/, mk); console.log('kill rtt', Date.now() - t, r.l);
  const c0 = ca.log().includes('operator') ? ca : cb;
  await c0.waitExited(5000); console.log('victim exited after', Date.now() - t);
  console.log(c0.log().split('\n').slice(-8).join('\n'));
  await sleep(500);
  p2.send('client-kill 1 "RESTART,Please reconnect"');
  await sleep(4000);
  const other = c0 === ca ? cb : ca;
  console.log(other.log().split('\n').slice(-14).join('\n'));
  p2.send('status 3'); await sleep(300);
  clearInterval(auto);
} finally { await lab.close(); }
