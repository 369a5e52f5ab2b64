import { OpenVpnLab, sleep } from '../test/support/openvpn-lab.js';
import { Probe } from './probe.js';
const lab = await OpenVpnLab.create();
const proto = (process.env.PROTO ?? 'tcp4') as 'tcp4';
try {
  const srv = await lab.startServer({ proto, mode: 'authorize' });
  const p = new Probe(srv.management.slice(5), true);
  await sleep(100);
  let m = 0; let deny = false;
  const auto = setInterval(() => { for (; m < p.lines.length; m++) { const x = /^>CLIENT:(CONNECT|REAUTH),(\d+),(\d+)/.exec(p.lines[m]!.l); if (x) { if (deny) p.send(`client-deny ${x[2]} ${x[3]} "blocked by test" "You are blocked for 30 s"`); else p.send(`client-auth-nt ${x[2]} ${x[3]}`); } } }, 2);
  const cs = await Promise.all(['u0', 'u1', 'u2'].map((user) => srv.startClient({ user })));
  const cidOf = async (user: string) => { const k = p.mark(); p.send('status 3'); await p.waitFor(/^END/, k); const row = p.lines.slice(k).find(x => x.l.startsWith('CLIENT_LIST') && x.l.split('\t')[9] === user)!; return row.l.split('\t'); };
  // 1) HALT alone
  let row = await cidOf('u0'); let k = p.mark(); let t = Date.now();
  p.send(`client-kill ${row[10]} HALT`);
  await p.waitFor(/^SUCCESS/, k); console.log('halt rtt', Date.now() - t);
  await p.waitFor(new RegExp(`^>CLIENT:DISCONNECT,${row[10]}$`), k); console.log('DISCONNECT after', Date.now() - t);
  await cs[0]!.waitExited(); console.log('exited after', Date.now() - t);
  console.log(cs[0]!.log().split('\n').filter(l => /Halt|SIG|reset|restart/i.test(l)).join('\n'));
  // 2) HALT + kill ip:port
  row = await cidOf('u1'); k = p.mark(); t = Date.now();
  p.send(`client-kill ${row[10]} HALT`);
  await p.waitFor(/^SUCCESS/, k); p.send(`kill ${row[2]}`); const r2 = await p.waitFor(/^SUCCESS|^ERROR/, k + 2); console.log('kill reply', r2.l, Date.now() - t);
  await p.waitFor(new RegExp(`^>CLIENT:DISCONNECT,${row[10]}$`), k); console.log('DISCONNECT after', Date.now() - t);
  try { await cs[1]!.waitExited(4000); console.log('exited after', Date.now() - t); } catch { console.log('NOT EXITED'); }
  console.log(cs[1]!.log().split('\n').filter(l => /Halt|SIG|reset|restart|Initialization/i.test(l)).join('\n'));
  // 3) client quits by itself
  k = p.mark(); t = Date.now(); cs[2]!.signal('SIGTERM');
  await p.waitFor(/^>CLIENT:DISCONNECT/, k); console.log('self-quit DISCONNECT after', Date.now() - t);
  // 4) deny
  deny = true;
  const d = await srv.startClient({ user: 'u3', waitConnected: false });
  await d.waitExited(); console.log(d.log().split('\n').filter(l => /AUTH|SIG|blocked/i.test(l)).join('\n'));
  console.log(p.lines.filter(x => /^>CLIENT:(CONNECT|DISCONNECT|ESTABLISHED)|^SUCCESS|^ERROR|^>NOTIFY/.test(x.l)).map(x => `${x.t} ${x.l}`).join('\n'));
  clearInterval(auto);
} finally { await lab.close(); }
