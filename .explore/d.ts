import { OpenVpnLab, sleep } from '../test/support/openvpn-lab.js';
import { Probe } from './probe.js';
const lab = await OpenVpnLab.create();
try {
  const srv = await lab.startServer({ proto: 'tcp4', mode: 'authorize' });
  let p = new Probe(srv.management.slice(5), true);
  await sleep(100);
  let m = 0;
  const auto = setInterval(() => { for (; m < p.lines.length; m++) { const x = /^>CLIENT:(CONNECT|REAUTH),(\d+),(\d+)/.exec(p.lines[m]!.l); if (x) p.send(`client-auth-nt ${x[2]} ${x[3]}`); } }, 2);
  p.send('state on'); p.send('state'); p.send('pid');
  const cs = await Promise.all(['u0', 'u1'].map((user) => srv.startClient({ user })));
  let mk = cs[0]!.logLength();
  p.send(`client-kill 0 "RESTART,Please \\"reconnect\\" now, ok? \\\\ back"`);
  await cs[0]!.waitConnected({ from: mk });
  console.log(cs[0]!.log().slice(mk).split('\n').filter(l => /pushed|SIG|restart/i.test(l)).join('\n'));
  p.send(`client-kill 1 "HALT,${'x'.repeat(10)}"`);
  await cs[1]!.waitExited();
  console.log(cs[1]!.log().split('\n').filter(l => /pushed|SIG|restart/i.test(l)).join('\n').slice(0, 600));
  await sleep(200);
  p.send('signal SIGUSR1');
  await sleep(3000);
  p.send('state'); p.send('status 3'); await sleep(300);
  console.log(p.lines.filter(x => /^>CLIENT:(CONNECT|DISCONNECT|ESTABLISHED)|^SUCCESS|^ERROR|^>NOTIFY|^>STATE|^\d+,|CLIENT_LIST|daemon_start/.test(x.l)).map(x => `${x.t} ${x.l}`).join('\n'));
  clearInterval(auto);
  // full restart
  const before = Date.now();
  p.s.end();
  await srv.restart(); console.log('restart took', Date.now() - before);
  p = new Probe(srv.management.slice(5), true); await sleep(100); p.send('state'); p.send('pid'); await sleep(200);
  console.log(p.lines.map(x => x.l).join('\n'));
} finally { await lab.close(); }
