import net from 'node:net';
export class Probe {
  lines: { t: number; l: string }[] = [];
  s: net.Socket; t0 = Date.now(); buf = '';
  constructor(path: string, public quiet = false) {
    this.s = net.createConnection(path);
    this.s.setEncoding('utf8');
    this.s.on('data', (d: string) => { this.buf += d; let i; while ((i = this.buf.indexOf('\n')) >= 0) { const l = this.buf.slice(0, i).replace(/\r$/, ''); this.buf = this.buf.slice(i + 1); this.push(l); } if (this.buf.startsWith('ENTER PASSWORD:')) { this.push('<prompt>' + JSON.stringify(this.buf)); this.buf=''; } });
    this.s.on('close', () => this.push('<closed>'));
    this.s.on('error', (e) => this.push('<error ' + e.message + '>'));
  }
  push(l: string) { const t = Date.now() - this.t0; this.lines.push({ t, l }); if (!this.quiet && !/^>CLIENT:ENV,(tls_|X509|IV_[^VP]|ifconfig_|n_clients|local|remote_port|script|tun_mtu|dev|redirect|verb|daemon=|daemon_log|config|time_ascii)/.test(l)) console.log(`[${t}] ${l}`); }
  send(c: string) { console.log(`[${Date.now() - this.t0}] >>> ${c}`); this.s.write(c + '\n'); }
  async waitFor(re: RegExp, from = 0, ms = 15000): Promise<{ t: number; l: string; i: number }> {
    const end = Date.now() + ms;
    for (;;) { for (let i = from; i < this.lines.length; i++) if (re.test(this.lines[i]!.l)) return { ...this.lines[i]!, i }; if (Date.now() > end) throw new Error('timeout ' + re); await new Promise(r => setTimeout(r, 5)); }
  }
  mark() { return this.lines.length; }
}
