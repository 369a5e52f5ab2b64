/**
 * A baseline's own management connection: `client-kill` written straight to the socket, replies
 * matched in command order (a FIFO of waiters is enough, as the daemon answers in order).
 */
import { connect, type Socket } from 'node:net';

export class ManagementLink {
  private readonly socket: Socket;
  private readonly waiting: ((line: string) => void)[] = [];
  private buffer = '';
  constructor(path: string) {
    this.socket = connect(path);
    this.socket.setEncoding('utf8');
    this.socket.on('data', (d: string) => {
      this.buffer += d;
      let i: number;
      while ((i = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, i).replace(/\r$/, '');
        this.buffer = this.buffer.slice(i + 1);
        if (line.startsWith('SUCCESS:') || line.startsWith('ERROR:')) this.waiting.shift()?.(line);
      }
    });
  }
  kill(cid: number): Promise<boolean> {
    return new Promise((resolve) => {
      this.waiting.push((line) => resolve(line.startsWith('SUCCESS')));
      this.socket.write(`client-kill ${cid} "HALT"\n`);
    });
  }
  close(): void {
    this.socket.destroy();
  }
}
