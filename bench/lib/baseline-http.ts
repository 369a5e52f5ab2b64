/**
 * The HTTP side of a baselines process (baseline-servers.ts, same-work-servers.ts): a bare `node:http`
 * handler and fastify + mercurius with `jit: 1`, both on 127.0.0.1 behind the same bearer check. Once
 * both listen, one JSON line `{ raw, mercurius }` with their URLs goes to stdout (the benchmark reads
 * it); SIGTERM closes both servers, then what the baselines opened, and exits.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import mercurius, { type IResolvers } from 'mercurius';

/** A GraphQL POST body as the benchmarks send it. */
export interface GraphqlBody {
  query: string;
  variables?: Record<string, unknown>;
}

export interface BaselineServers {
  /** The whole `authorization` header a request must carry (401 or an error without it). */
  bearer: string;
  /** The raw handler's answer: the response's `data`, or null for a "not found" error. */
  raw: (body: GraphqlBody, req: IncomingMessage) => Promise<unknown>;
  mercurius: {
    schema: string;
    resolvers: IResolvers;
    /** The resolvers' context for an authorized request (default `{}`). */
    context?: (req: IncomingMessage) => Record<string, unknown>;
  };
  /** Closes what the baselines opened (stores, management links), after both servers. */
  close: () => Promise<unknown>;
}

export async function serveBaselines(o: BaselineServers): Promise<void> {
  const raw = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      void (async () => {
        if (req.headers.authorization !== o.bearer) {
          res.writeHead(401).end();
          return;
        }
        const data = await o.raw(JSON.parse(body) as GraphqlBody, req);
        const text = JSON.stringify(data === null ? { data: null, errors: [{ message: 'not found' }] } : { data });
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(text);
      })();
    });
  });
  await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', () => resolve()));

  const app = Fastify({ logger: false });
  await app.register(mercurius, {
    schema: o.mercurius.schema,
    jit: 1,
    resolvers: o.mercurius.resolvers,
    context: (request) => {
      if (request.headers.authorization !== o.bearer) throw new Error('unauthorized');
      return o.mercurius.context?.(request.raw) ?? {};
    },
  });
  await app.listen({ port: 0, host: '127.0.0.1' });

  const rawPort = (raw.address() as AddressInfo).port;
  const merPort = (app.server.address() as AddressInfo).port;
  process.stdout.write(
    `${JSON.stringify({ raw: `http://127.0.0.1:${rawPort}/graphql`, mercurius: `http://127.0.0.1:${merPort}/graphql` })}\n`,
  );
  process.on('SIGTERM', () => {
    raw.close();
    void app
      .close()
      .then(o.close)
      .then(() => process.exit(0));
  });
}
